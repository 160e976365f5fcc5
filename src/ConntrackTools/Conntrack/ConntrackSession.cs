using System;
using System.Threading;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// One conversation with ctnetlink for a cmdlet's lifetime: owns the socket (opened in the session's network
/// namespace on first use) and offers what Get-, New-, Set-, Remove- and Clear-Conntrack do: select (one CT_GET when
/// the selection names a whole tuple, else a dump), look up, create, update, delete, flush. Kernel refusals come back
/// as <see cref="ConntrackRequestException"/> saying which part of the request was refused.
/// Not thread-safe; dumps run on their own sockets.
/// </summary>
public sealed class ConntrackSession : IDisposable
{
    private readonly ConntrackClient _client;
    private NetlinkConnection? _conn;

    public ConntrackSession(ConntrackClient client) => _client = client;

    public ConntrackClient Client => _client;

    private NetlinkConnection Conn => _conn ??= _client.Connect();

    /// <summary>
    /// The entries the filter selects, handed to <paramref name="sink"/> on the calling thread as they are decoded. A
    /// selection naming a whole original or reply tuple is answered by one lookup in zone <c>filter.Zone ?? 0</c>
    /// (a tuple is unique per zone), as conntrack -G does; with <paramref name="kernelFiltering"/> false always a dump.
    /// </summary>
    public DumpResult Select(ConntrackFilter filter, bool kernelFiltering, Action<ConntrackEntry[]> sink, CancellationToken cancel = default)
    {
        if (kernelFiltering && !filter.MatchesNothing && filter.ExactTuple() is var (tuple, reply))
        {
            ushort zone = filter.Zone ?? 0;
            var result = new DumpResult
            {
                KernelFilter = $"exact {(reply ? "reply" : "original")} tuple {tuple} in zone {zone} (one CT_GET lookup, no dump)",
                UserFilter = "the rest of the selection, on the entry found",
            };
            cancel.ThrowIfCancellationRequested();
            var found = Lookup(tuple, reply, zone);
            if (found is not null)
            {
                result.Received = 1;
                if (filter.Matches(found))
                {
                    result.Emitted = 1;
                    sink([found]);
                }
            }
            return result;
        }
        return _client.Dump(filter, kernelFiltering, sink, cancel);
    }

    /// <summary>The entry with this original (or reply) tuple in <paramref name="zone"/>, or null (IPCTNL_MSG_CT_GET).</summary>
    public ConntrackEntry? Lookup(FlowTuple tuple, bool reply, ushort zone)
    {
        ConntrackEntry? found = null;
        string? ns = _client.Namespace?.Spec;
        try
        {
            Conn.Request(ConntrackMessages.Get(tuple, reply, zone), "conntrack get",
                (in NetlinkMessage m) => found = ConntrackDecoder.Decode(m.Payload, ns));
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENOENT)
        {
            return null;
        }
        catch (NetlinkException e)
        {
            throw ConntrackRequestException.For(e, ConntrackOperation.Lookup, null);
        }
        return found;
    }

    /// <summary>The entry as the kernel holds it now (by original tuple and zone), or null when it is gone.</summary>
    public ConntrackEntry? Refresh(ConntrackEntry e) => Lookup(e.Original, reply: false, e.Zone);

    /// <summary>Creates an entry; <paramref name="exclusive"/> false updates an existing one instead (conntrack -A).</summary>
    public void Create(ConntrackEntry entry, bool exclusive = true)
    {
        try { Conn.Execute(ConntrackMessages.Create(entry, exclusive), exclusive ? "conntrack create" : "conntrack create or update"); }
        catch (NetlinkException e) { throw ConntrackRequestException.For(e, ConntrackOperation.Create, entry); }
    }

    /// <summary>Applies a change; false when the entry is gone (ENOENT: expired or deleted meanwhile).</summary>
    public bool Update(ConntrackEntry entry, ConntrackChange change)
    {
        try
        {
            Conn.Execute(ConntrackMessages.Update(entry, change), "conntrack update");
            return true;
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENOENT) { return false; }
        catch (NetlinkException e) { throw ConntrackRequestException.For(e, ConntrackOperation.Update, entry); }
    }

    /// <summary>Deletes one entry by original tuple, zone and id; false when it was already gone.</summary>
    public bool Delete(ConntrackEntry entry)
    {
        try
        {
            Conn.Execute(ConntrackRequests.Delete(entry), "conntrack delete");
            return true;
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENOENT) { return false; }
        catch (NetlinkException e) { throw ConntrackRequestException.For(e, ConntrackOperation.Delete, entry); }
    }

    /// <summary>Flushes the table, or only the entries of one family.</summary>
    public void Flush(IPFamily family = IPFamily.All) => Conn.Execute(ConntrackMessages.Flush(family), "conntrack flush");

    public void Dispose()
    {
        _conn?.Dispose();
        _conn = null;
    }
}

public enum ConntrackOperation { Lookup, Create, Update, Delete }

/// <summary>A kernel refusal with words for what was refused; keeps the errno so callers can map it as before.</summary>
public sealed class ConntrackRequestException : NetlinkException
{
    private ConntrackRequestException(NetlinkException e, string message) : base(e.Errno, e.Operation, e.ExtendedAck, message, e) { }

    /// <summary>What was refused, as far as the errno and the request tell (ctnetlink sends no extended ack for these).</summary>
    public string? Part { get; private init; }

    public static ConntrackRequestException For(NetlinkException e, ConntrackOperation op, ConntrackEntry? entry)
    {
        string what = entry is null ? "" : $" {entry.Protocol} {entry.Original} (zone {entry.Zone})";
        string ack = string.IsNullOrEmpty(e.ExtendedAck) ? "" : $" The kernel said: {e.ExtendedAck}.";
        (string part, string text) = (op, e.Errno) switch
        {
            (ConntrackOperation.Create, Netlink.Errno.EEXIST) => ("tuple", $"An entry with the original tuple{what} already exists (EEXIST): the kernel keeps one per tuple and zone; update it instead, or create it with create-or-update."),
            (ConntrackOperation.Create, Netlink.Errno.EBUSY) => ("status", $"The kernel refused the status {entry?.Status} of{what} (EBUSY): it sets the other flags itself."),
            (ConntrackOperation.Update, Netlink.Errno.EBUSY) => ("status", $"The kernel refused the status change of{what} (EBUSY): status flags can be added but never cleared, and some flags belong to the kernel."),
            (ConntrackOperation.Create, Netlink.Errno.EINVAL) => ("tuple", $"The kernel refused the entry{what} (EINVAL): the tuples, the state or the ICMP type do not describe a connection it can track (an ICMP type with no answer type, a reply tuple of another protocol, a state of another protocol)."),
            (ConntrackOperation.Create or ConntrackOperation.Update, Netlink.Errno.ERANGE) => ("value", $"The kernel refused a value of{what} as out of range (ERANGE)."),
            (ConntrackOperation.Update, Netlink.Errno.ENOSPC) => ("labels", $"The entry{what} has no room for labels (ENOSPC): the kernel gives label storage only to entries created while a ct label rule exists in the namespace."),
            (ConntrackOperation.Update, Netlink.Errno.EINVAL) => ("change", $"The kernel refused the change of{what} (EINVAL)."),
            (ConntrackOperation.Update, Netlink.Errno.EOPNOTSUPP) => ("change", $"The kernel cannot make this change to{what} (EOPNOTSUPP): for example a helper, or NAT on an existing entry."),
            (ConntrackOperation.Create, Netlink.Errno.EOPNOTSUPP) => ("entry", $"The kernel cannot create{what} (EOPNOTSUPP): a helper, NAT or protocol it does not offer."),
            (ConntrackOperation.Lookup, Netlink.Errno.EINVAL) => ("tuple", "The kernel refused the lookup tuple (EINVAL)."),
            _ => ("", e.Message),
        };
        return new ConntrackRequestException(e, text + ack) { Part = part.Length == 0 ? null : part };
    }
}
