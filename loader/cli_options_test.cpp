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
                             "--no-carrier"})
    CHECK(text.find(option) != std::string::npos);
}
