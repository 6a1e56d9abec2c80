/* Guards of a listening TCP socket against running out of descriptors (listen_guard.h). */
#include "listen_guard.h"

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/socket.h>

size_t fh_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    return rl.rlim_cur > (1 << 20) ? (1 << 20) : (size_t)rl.rlim_cur;
}

int fh_listen_hold_back(int fd, bool on)
{
    struct sock_filter drop[] = {{BPF_RET | BPF_K, 0, 0, 0}};
    struct sock_fprog prog = {1, drop};
    int none = 0;
    return on ? setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog)
              : setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &none, sizeof none);
}
