namespace ConntrackTools.Conntrack;

/// <summary>ctnetlink wire constants, named after linux/netfilter/nfnetlink_conntrack.h.</summary>
internal static class Cta
{
    // nfnetlink subsystems and message types
    public const byte NFNL_SUBSYS_CTNETLINK = 1;
    public const byte IPCTNL_MSG_CT_NEW = 0;
    public const byte IPCTNL_MSG_CT_GET = 1;
    public const byte IPCTNL_MSG_CT_DELETE = 2;
    public const byte IPCTNL_MSG_CT_GET_CTRZERO = 3;
    public const byte IPCTNL_MSG_CT_GET_STATS_CPU = 4;
    public const byte IPCTNL_MSG_CT_GET_STATS = 5;

    public static ushort MessageType(byte msg) => (ushort)((NFNL_SUBSYS_CTNETLINK << 8) | msg);

    // nfnetlink groups (enum nfnetlink_groups)
    public const int NFNLGRP_CONNTRACK_NEW = 1;
    public const int NFNLGRP_CONNTRACK_UPDATE = 2;
    public const int NFNLGRP_CONNTRACK_DESTROY = 3;

    // enum ctattr_type
    public const ushort TUPLE_ORIG = 1;       // CTA_TUPLE_ORIG
    public const ushort TUPLE_REPLY = 2;      // CTA_TUPLE_REPLY
    public const ushort STATUS = 3;           // CTA_STATUS
    public const ushort PROTOINFO = 4;        // CTA_PROTOINFO
    public const ushort HELP = 5;             // CTA_HELP
    public const ushort NAT_SRC = 6;          // CTA_NAT_SRC
    public const ushort TIMEOUT = 7;          // CTA_TIMEOUT
    public const ushort MARK = 8;             // CTA_MARK
    public const ushort COUNTERS_ORIG = 9;    // CTA_COUNTERS_ORIG
    public const ushort COUNTERS_REPLY = 10;  // CTA_COUNTERS_REPLY
    public const ushort USE = 11;             // CTA_USE
    public const ushort ID = 12;              // CTA_ID
    public const ushort NAT_DST = 13;         // CTA_NAT_DST
    public const ushort TUPLE_MASTER = 14;    // CTA_TUPLE_MASTER
    public const ushort SEQ_ADJ_ORIG = 15;    // CTA_SEQ_ADJ_ORIG
    public const ushort SEQ_ADJ_REPLY = 16;   // CTA_SEQ_ADJ_REPLY
    public const ushort SECMARK = 17;         // CTA_SECMARK (obsolete)
    public const ushort ZONE = 18;            // CTA_ZONE
    public const ushort SECCTX = 19;          // CTA_SECCTX
    public const ushort TIMESTAMP = 20;       // CTA_TIMESTAMP
    public const ushort MARK_MASK = 21;       // CTA_MARK_MASK
    public const ushort LABELS = 22;          // CTA_LABELS
    public const ushort LABELS_MASK = 23;     // CTA_LABELS_MASK
    public const ushort SYNPROXY = 24;        // CTA_SYNPROXY
    public const ushort FILTER = 25;          // CTA_FILTER
    public const ushort STATUS_MASK = 26;     // CTA_STATUS_MASK

    // enum ctattr_tuple
    public const ushort TUPLE_IP = 1;         // CTA_TUPLE_IP
    public const ushort TUPLE_PROTO = 2;      // CTA_TUPLE_PROTO
    public const ushort TUPLE_ZONE = 3;       // CTA_TUPLE_ZONE

    // enum ctattr_ip
    public const ushort IP_V4_SRC = 1;        // CTA_IP_V4_SRC
    public const ushort IP_V4_DST = 2;        // CTA_IP_V4_DST
    public const ushort IP_V6_SRC = 3;        // CTA_IP_V6_SRC
    public const ushort IP_V6_DST = 4;        // CTA_IP_V6_DST

    // enum ctattr_l4proto
    public const ushort PROTO_NUM = 1;        // CTA_PROTO_NUM
    public const ushort PROTO_SRC_PORT = 2;   // CTA_PROTO_SRC_PORT
    public const ushort PROTO_DST_PORT = 3;   // CTA_PROTO_DST_PORT
    public const ushort PROTO_ICMP_ID = 4;    // CTA_PROTO_ICMP_ID
    public const ushort PROTO_ICMP_TYPE = 5;  // CTA_PROTO_ICMP_TYPE
    public const ushort PROTO_ICMP_CODE = 6;  // CTA_PROTO_ICMP_CODE
    public const ushort PROTO_ICMPV6_ID = 7;  // CTA_PROTO_ICMPV6_ID
    public const ushort PROTO_ICMPV6_TYPE = 8;// CTA_PROTO_ICMPV6_TYPE
    public const ushort PROTO_ICMPV6_CODE = 9;// CTA_PROTO_ICMPV6_CODE

    // enum ctattr_protoinfo
    public const ushort PROTOINFO_TCP = 1;    // CTA_PROTOINFO_TCP
    public const ushort PROTOINFO_DCCP = 2;   // CTA_PROTOINFO_DCCP
    public const ushort PROTOINFO_SCTP = 3;   // CTA_PROTOINFO_SCTP
    public const ushort PROTOINFO_TCP_STATE = 1;  // CTA_PROTOINFO_TCP_STATE
    public const ushort PROTOINFO_TCP_WSCALE_ORIGINAL = 2;
    public const ushort PROTOINFO_TCP_WSCALE_REPLY = 3;
    public const ushort PROTOINFO_TCP_FLAGS_ORIGINAL = 4;
    public const ushort PROTOINFO_TCP_FLAGS_REPLY = 5;
    public const ushort PROTOINFO_DCCP_STATE = 1; // CTA_PROTOINFO_DCCP_STATE
    public const ushort PROTOINFO_SCTP_STATE = 1; // CTA_PROTOINFO_SCTP_STATE

    // enum ctattr_counters
    public const ushort COUNTERS_PACKETS = 1; // CTA_COUNTERS_PACKETS (u64)
    public const ushort COUNTERS_BYTES = 2;   // CTA_COUNTERS_BYTES (u64)
    public const ushort COUNTERS32_PACKETS = 3;
    public const ushort COUNTERS32_BYTES = 4;

    // enum ctattr_tstamp
    public const ushort TIMESTAMP_START = 1;  // CTA_TIMESTAMP_START (ns since the epoch)
    public const ushort TIMESTAMP_STOP = 2;   // CTA_TIMESTAMP_STOP

    // enum ctattr_help
    public const ushort HELP_NAME = 1;        // CTA_HELP_NAME

    // enum ctattr_filter
    public const ushort FILTER_ORIG_FLAGS = 1;  // CTA_FILTER_ORIG_FLAGS
    public const ushort FILTER_REPLY_FLAGS = 2; // CTA_FILTER_REPLY_FLAGS

    // CTA_FILTER flag bits: not in the uapi header; the kernel defines them in net/netfilter/nf_internals.h
    public const uint FILTER_FLAG_IP_SRC = 1u << 0;          // CTA_FILTER_FLAG_CTA_IP_SRC
    public const uint FILTER_FLAG_IP_DST = 1u << 1;          // CTA_FILTER_FLAG_CTA_IP_DST
    public const uint FILTER_FLAG_TUPLE_ZONE = 1u << 2;      // CTA_FILTER_FLAG_CTA_TUPLE_ZONE
    public const uint FILTER_FLAG_PROTO_NUM = 1u << 3;       // CTA_FILTER_FLAG_CTA_PROTO_NUM
    public const uint FILTER_FLAG_PROTO_SRC_PORT = 1u << 4;  // CTA_FILTER_FLAG_CTA_PROTO_SRC_PORT
    public const uint FILTER_FLAG_PROTO_DST_PORT = 1u << 5;  // CTA_FILTER_FLAG_CTA_PROTO_DST_PORT
    public const uint FILTER_FLAG_ICMP_TYPE = 1u << 6;       // CTA_FILTER_FLAG_CTA_PROTO_ICMP_TYPE
    public const uint FILTER_FLAG_ICMP_CODE = 1u << 7;       // CTA_FILTER_FLAG_CTA_PROTO_ICMP_CODE
    public const uint FILTER_FLAG_ICMP_ID = 1u << 8;         // CTA_FILTER_FLAG_CTA_PROTO_ICMP_ID
    public const uint FILTER_FLAG_ICMPV6_TYPE = 1u << 9;     // CTA_FILTER_FLAG_CTA_PROTO_ICMPV6_TYPE
    public const uint FILTER_FLAG_ICMPV6_CODE = 1u << 10;    // CTA_FILTER_FLAG_CTA_PROTO_ICMPV6_CODE
    public const uint FILTER_FLAG_ICMPV6_ID = 1u << 11;      // CTA_FILTER_FLAG_CTA_PROTO_ICMPV6_ID

    // enum ctattr_stats_cpu
    public const ushort STATS_FOUND = 2;
    public const ushort STATS_INVALID = 4;
    public const ushort STATS_INSERT = 8;
    public const ushort STATS_INSERT_FAILED = 9;
    public const ushort STATS_DROP = 10;
    public const ushort STATS_EARLY_DROP = 11;
    public const ushort STATS_ERROR = 12;
    public const ushort STATS_SEARCH_RESTART = 13;
    public const ushort STATS_CLASH_RESOLVE = 14;
    public const ushort STATS_CHAIN_TOOLONG = 15;

    // enum ctattr_stats_global
    public const ushort STATS_GLOBAL_ENTRIES = 1;     // CTA_STATS_GLOBAL_ENTRIES
    public const ushort STATS_GLOBAL_MAX_ENTRIES = 2; // CTA_STATS_GLOBAL_MAX_ENTRIES
}
