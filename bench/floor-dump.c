/*
 * The kernel's floor for a conntrack dump: one ctnetlink IPCTNL_MSG_CT_GET dump on one socket, receiving datagrams
 * and walking message headers only (no attribute is looked at). Prints the number of entries.
 * Built by the bench (cc -O2); run inside the namespace to dump:  floor-dump [family]   (0 = all, 2 = IPv4, 10 = IPv6)
 * Written for ConntrackTools' bench; uses only the uapi headers.
 */
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int family = argc > 1 ? atoi(argv[1]) : 0;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) { perror("socket"); return 1; }
    int rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
    struct sockaddr_nl local = { .nl_family = AF_NETLINK };
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) { perror("bind"); return 1; }

    struct { struct nlmsghdr h; struct nfgenmsg g; } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 1;
    req.g.nfgen_family = (unsigned char)family;
    req.g.version = NFNETLINK_V0;
    if (send(fd, &req, sizeof req, 0) < 0) { perror("send"); return 1; }

    static char buf[1 << 20];
    long entries = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) { perror("recv"); return 1; }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) { printf("%ld\n", entries); return 0; }
            if (h->nlmsg_type == NLMSG_ERROR) {
                int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                if (err) { fprintf(stderr, "netlink error %d\n", err); return 1; }
                continue;
            }
            entries++;
        }
    }
}
