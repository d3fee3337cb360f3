#include "cli_options.h"

#include <doctest/doctest.h>

namespace {

base::Result<loader::Command> Parse(std::vector<std::string> args) { return loader::ParseArgs(args); }

const loader::Options& Run(const base::Result<loader::Command>& command) {
  REQUIRE(command.ok());
  REQUIRE(std::holds_alternative<loader::Options>(*command));
  return std::get<loader::Options>(*command);
}

}  // namespace

TEST_CASE("hcl-loader CLI: defaults, values, and where the host files are") {
  auto parsed = Parse({"run", "--vps=2", "image.igvm", "--mem", "512", "--vtl0-kernel",
                       "/k/vmlinuz", "--vtl0-initrd=/k/initrd", "--timeout", "30", "--no-carrier"});
  const loader::Options& options = Run(parsed);
  CHECK(options.image_path == "image.igvm");
  CHECK(options.vp_count == 2);
  CHECK(options.mem_mib == 512);
  CHECK(options.timeout_s == 30u);
  CHECK(options.no_carrier);
  CHECK_FALSE(options.allow_unsigned);
  CHECK(options.vtl0_command_line == loader::kDefaultVtl0CommandLine);
  // Normalized: --vps=2 and --vtl0-initrd=... split in two.
  REQUIRE(options.args.size() == 13);
  CHECK(options.args[options.image_arg] == "image.igvm");
  REQUIRE(options.file_args.size() == 2);
  CHECK(options.args[options.file_args[0]] == "/k/vmlinuz");
  CHECK(options.args[options.file_args[1]] == "/k/initrd");
}

TEST_CASE("hcl-loader CLI: a repeatable option takes one value per use") {
  const std::string digest(96, 'a');
  auto parsed = Parse({"run", "--trusted-key-digest", digest, "image.igvm", "--trusted-key-digest",
                       std::string(96, 'b')});
  const loader::Options& options = Run(parsed);
  CHECK(options.image_path == "image.igvm");
  REQUIRE(options.trusted_keys.size() == 2);
  CHECK(options.trusted_keys[0][0] == 0xAA);
  CHECK(options.trusted_keys[1][0] == 0xBB);
  CHECK(options.args[options.image_arg] == "image.igvm");
}

TEST_CASE("hcl-loader CLI: --isolation") {
  CHECK_FALSE(Run(Parse({"run", "a.igvm"})).isolation_vbs);
  CHECK_FALSE(Run(Parse({"run", "a.igvm", "--isolation", "none"})).isolation_vbs);
  CHECK(Run(Parse({"run", "a.igvm", "--isolation=vbs", "--disk", "d.img"})).isolation_vbs);
}

TEST_CASE("hcl-loader CLI: --exit-profile, and --rip-samples implying it") {
  const loader::Options plain = Run(Parse({"run", "a.igvm"}));
  CHECK_FALSE(plain.exit_profile);
  CHECK_FALSE(plain.rip_samples);
  CHECK(Run(Parse({"run", "a.igvm", "--exit-profile"})).exit_profile);
  const loader::Options sampled = Run(Parse({"run", "a.igvm", "--rip-samples"}));
  CHECK(sampled.rip_samples);
  CHECK(sampled.exit_profile);
}

TEST_CASE("hcl-loader CLI: bad usage is one line") {
  CHECK_FALSE(Parse({}).ok());
  CHECK_FALSE(Parse({"run"}).ok());                          // no image
  CHECK_FALSE(Parse({"boot", "image.igvm"}).ok());           // no such subcommand
  CHECK_FALSE(Parse({"run", "a.igvm", "b.igvm"}).ok());      // two images
  CHECK_FALSE(Parse({"run", "a.igvm", "--vps", "0"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--vps", "65"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--vps", "two"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--mem", "0"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--timeout", "0"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--bogus"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--no-vtl0", "--vtl0-kernel", "k"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--vtl0-initrd", "i"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--trusted-key-digest", "abcd"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--trusted-key", "/nonexistent.pem"}).ok());
  CHECK_FALSE(Parse({"run", "a.igvm", "--isolation", "snp"}).ok());  // not on this loader
  CHECK_FALSE(Parse({"run", "a.igvm", "--isolation", "vbs", "--disk-vtl0", "d.img"}).ok());
  const auto error = Parse({"run", "a.igvm", "--vps", "99"});
  REQUIRE_FALSE(error.ok());
  CHECK(error.error().message().find('\n') == std::string::npos);
}

TEST_CASE("hcl-loader CLI: --help explains every option") {
  for (auto args : {std::vector<std::string>{"--help"}, std::vector<std::string>{"run", "--help"}}) {
    auto parsed = Parse(args);
    REQUIRE(parsed.ok());
    REQUIRE(std::holds_alternative<loader::HelpText>(*parsed));
  }
  const std::string text = std::get<loader::HelpText>(*Parse({"run", "--help"})).text;
  for (const char* option : {"--vps", "--mem", "--vtl2-cmdline", "--timeout", "--vtl0-kernel",
                             "--vtl0-initrd", "--vtl0-cmdline", "--no-vtl0", "--trace-vtl",
                             "--trusted-key", "--trusted-key-digest", "--allow-unsigned",
                             "--no-carrier", "--exit-profile", "--rip-samples"})
    CHECK(text.find(option) != std::string::npos);
}

TEST_CASE("hcl-loader CLI: --nic and --nic-vtl0") {
  const auto parsed_none = Parse({"run", "a.igvm"});
  const loader::Options& none = Run(parsed_none);
  CHECK_FALSE(none.nic.has_value());
  CHECK_FALSE(none.vtl0_nic.has_value());
  CHECK(none.nic_args.empty());

  auto parsed = Parse({"run", "a.igvm", "--nic=user,hostfwd=tcp:127.0.0.1:5555-:22",
                       "--disk", "d.img", "--nic-vtl0", "tap=tap0"});
  const loader::Options& options = Run(parsed);
  REQUIRE(options.nic.has_value());
  CHECK(options.nic->kind == loader::net::NicSpec::Kind::kUser);
  REQUIRE(options.nic->forwards.size() == 1);
  CHECK(options.nic->forwards[0].host_port == 5555);
  REQUIRE(options.vtl0_nic.has_value());
  CHECK(options.vtl0_nic->tap_name == "tap0");
  // Normalized: --nic=... split in two; the values' places for the relaunch.
  REQUIRE(options.nic_args.size() == 2);
  CHECK(options.args[options.nic_args[0]] == "user,hostfwd=tcp:127.0.0.1:5555-:22");
  CHECK(options.args[options.nic_args[1]] == "tap=tap0");
  REQUIRE(options.disk_args.size() == 1);
  CHECK(options.args[options.disk_args[0]] == "d.img");
}

TEST_CASE("hcl-loader CLI: a bad --nic is one line naming the option") {
  const auto message = [](std::vector<std::string> args) {
    auto parsed = Parse(std::move(args));
    REQUIRE_FALSE(parsed.ok());
    const std::string text = parsed.error().message();
    CHECK(text.find('\n') == std::string::npos);
    return text;
  };
  CHECK(message({"run", "a.igvm", "--nic", "user,hostfwd=tcp::0-:22"}).starts_with("--nic: "));
  CHECK(message({"run", "a.igvm", "--nic-vtl0", "tap="}).starts_with("--nic-vtl0: "));
  CHECK(message({"run", "a.igvm", "--nic", "user", "--nic", "tap=t"}).find("--nic") !=
        std::string::npos);
  CHECK(message({"run", "a.igvm", "--no-vtl0", "--nic-vtl0", "user"}) ==
        "--no-vtl0 with --nic-vtl0");
  CHECK(message({"run", "a.igvm", "--isolation", "vbs", "--nic-vtl0", "user"})
            .starts_with("--nic-vtl0 with --isolation vbs"));
  CHECK(message({"run", "a.igvm", "--nic", "user,hostfwd=tcp::80-:80", "--nic-vtl0",
                 "user,hostfwd=tcp:127.0.0.1:80-:8080"})
            .find("tcp port 80") != std::string::npos);
  // The same port on different protocols, or on one NIC each, is fine.
  CHECK(Parse({"run", "a.igvm", "--nic", "user,hostfwd=tcp::80-:80", "--nic-vtl0",
               "user,hostfwd=udp::80-:80"})
            .ok());
  const std::string help = std::get<loader::HelpText>(*Parse({"run", "--help"})).text;
  for (const char* part : {"--nic", "--nic-vtl0", "10.0.2.15", "10.0.2.2", "10.0.2.3", "hostfwd=",
                           "tap=IFNAME"})
    CHECK(help.find(part) != std::string::npos);
}
