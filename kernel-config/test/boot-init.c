// /init for kernel-config/test-boot: checks, from inside the freshly built
// kernel, the facilities hcl relies on, prints one line per check and powers
// the machine off with reboot(RB_POWER_OFF). Plain C so that it needs only
// musl-gcc (or gcc) with -static.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void check(const char *what, int ok) {
    printf("BOOT-TEST: %-28s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) failures++;
}

static void mount_fs(const char *type, const char *dir) {
    mkdir(dir, 0755);
    char what[64];
    snprintf(what, sizeof what, "mount %s on %s", type, dir);
    check(what, mount(type, dir, type, 0, NULL) == 0 || errno == EBUSY);
}

static void *thread_main(void *arg) { return arg; }

int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    printf("BOOT-TEST: /init started at %ld.%03ld s after boot\n", (long)now.tv_sec, now.tv_nsec / 1000000);

    mount_fs("proc", "/proc");
    mount_fs("sysfs", "/sys");
    mount_fs("devtmpfs", "/dev");
    mount_fs("tmpfs", "/tmp");

    int cpus = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "processor", 9) == 0) cpus++;
        fclose(f);
    }
    printf("BOOT-TEST: cpus online: %d\n", cpus);
    check("/proc/cpuinfo lists CPUs", cpus > 0);

    pthread_t t;
    void *ret = NULL;
    check("pthread_create/join (futex)", pthread_create(&t, NULL, thread_main, (void *)42) == 0 &&
                                         pthread_join(t, &ret) == 0 && ret == (void *)42);
    check("epoll_create1", epoll_create1(EPOLL_CLOEXEC) >= 0);
    check("eventfd", eventfd(0, EFD_CLOEXEC) >= 0);
    check("timerfd_create", timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC) >= 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    check("signalfd", signalfd(-1, &set, SFD_CLOEXEC) >= 0);
    check("memfd_create", memfd_create("test", MFD_CLOEXEC) >= 0);
    check("/dev/ttyS0 from devtmpfs", access("/dev/ttyS0", F_OK) == 0);
    int fd = open("/tmp/probe", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    check("write to tmpfs", fd >= 0 && write(fd, "x", 1) == 1);

    printf("BOOT-TEST: %s\n", failures ? "SOME CHECKS FAILED" : "ALL CHECKS PASSED");
    fflush(stdout);
    reboot(RB_POWER_OFF);
    printf("BOOT-TEST: reboot(RB_POWER_OFF) returned: %s\n", strerror(errno));
    return 1;
}
