/*
 * bindshim: preloaded into every process the sandbox node agent runs for a pod.
 * Binding to the wildcard address (0.0.0.0 or ::) is rewritten to the pod's own
 * loopback address (FEDSANDBOX_POD_IP), so that many pods on one machine can all
 * listen on, say, port 8888 without colliding, and each is reachable at its pod IP.
 * Explicit addresses (127.0.0.1 for kernels, ...) are left alone.
 *
 * A rewritten bind also sets SO_REUSEADDR: in a real cluster each pod has its own
 * network namespace, so connections left in TIME_WAIT by an earlier pod that had the
 * same address never block a new pod's listener. Here they would.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

static void reuse_address(int fd) {
    int type = 0, on = 1;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
}

static int pod_address(struct in_addr *out) {
    const char *ip = getenv("FEDSANDBOX_POD_IP");
    return ip && *ip && inet_pton(AF_INET, ip, out) == 1;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real_bind;
    if (!real_bind)
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    struct in_addr pod;
    if (addr && pod_address(&pod)) {
        if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
            struct sockaddr_in v4;
            memcpy(&v4, addr, sizeof v4);
            if (v4.sin_addr.s_addr == htonl(INADDR_ANY)) {
                v4.sin_addr = pod;
                reuse_address(fd);
                return real_bind(fd, (struct sockaddr *)&v4, sizeof v4);
            }
        } else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
            struct sockaddr_in6 v6;
            memcpy(&v6, addr, sizeof v6);
            if (IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) {
                /* Dual-stack wildcard: serve IPv4 on the pod address instead. */
                int off = 0;
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
                memset(&v6.sin6_addr, 0, sizeof v6.sin6_addr);
                v6.sin6_addr.s6_addr[10] = 0xff;
                v6.sin6_addr.s6_addr[11] = 0xff;
                memcpy(&v6.sin6_addr.s6_addr[12], &pod, 4);
                reuse_address(fd);
                int rc = real_bind(fd, (struct sockaddr *)&v6, sizeof v6);
                if (rc == 0 || errno != EADDRINUSE)
                    return rc;
                /* The process already serves IPv4 on the pod address (servers such as
                 * tornado bind 0.0.0.0 and then ::). That listener serves the pod; park
                 * this one on an unused IPv6 loopback port so the server starts. */
                struct sockaddr_in6 lo = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
                return real_bind(fd, (struct sockaddr *)&lo, sizeof lo);
            }
        }
    }
    return real_bind(fd, addr, len);
}
