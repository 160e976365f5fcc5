using System;
using System.Buffers.Binary;
using System.Net;
using ConntrackTools.Netlink;

namespace ConntrackTools.Routing;

/// <summary>One RTM_NEWADDR / RTM_DELADDR message, decoded; the interface name is looked up separately.</summary>
public readonly record struct AddressMessage(
    AddressChange Change, int InterfaceIndex, IPAddress Address, int PrefixLength, IPFamily Family,
    AddressScope Scope, AddressFlags Flags, string? Label);

/// <summary>Decodes rtnetlink address messages (struct ifaddrmsg and IFA_* attributes, host byte order).</summary>
public static class AddressDecoder
{
    public static bool IsAddressMessage(ushort type) => type is Rtnl.RTM_NEWADDR or Rtnl.RTM_DELADDR;

    /// <summary>
    /// Decodes the message; null for families other than IPv4 and IPv6. Malformed input raises
    /// <see cref="NetlinkDecodeException"/>, nothing else.
    /// </summary>
    public static AddressMessage? Decode(in NetlinkMessage message)
    {
        if (!IsAddressMessage(message.Type)) throw new NetlinkDecodeException($"message type {message.Type} is not an address message");
        var payload = message.Payload;
        if (payload.Length < Rtnl.IfAddrMsgLength)
            throw new NetlinkDecodeException($"address message of {payload.Length} bytes has no ifaddrmsg");
        IPFamily family;
        int addressLength;
        switch (payload[0])
        {
            case Rtnl.AF_INET: family = IPFamily.IPv4; addressLength = 4; break;
            case Rtnl.AF_INET6: family = IPFamily.IPv6; addressLength = 16; break;
            default: return null;
        }
        int prefixLength = payload[1];
        var flags = (AddressFlags)payload[2];
        var scope = (AddressScope)payload[3];
        int index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);

        IPAddress? local = null, address = null;
        string? label = null;
        var ad = new AttributeDecoder(payload[Rtnl.IfAddrMsgLength..], bigEndian: false);
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case Rtnl.IFA_LOCAL: local = ad.Address(addressLength); break;
                case Rtnl.IFA_ADDRESS: address = ad.Address(addressLength); break;
                case Rtnl.IFA_LABEL: label = ad.String(); break;
                case Rtnl.IFA_FLAGS: flags = (AddressFlags)ad.UInt32(); break; // all bits; ifa_flags has only the low 8
            }
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("address message: " + ad.Error);
        var own = local ?? address ?? throw new NetlinkDecodeException("address message without IFA_LOCAL or IFA_ADDRESS");
        var change = message.Type == Rtnl.RTM_NEWADDR ? AddressChange.Added : AddressChange.Removed;
        return new AddressMessage(change, index, own, prefixLength, family, scope, flags, label);
    }
}
