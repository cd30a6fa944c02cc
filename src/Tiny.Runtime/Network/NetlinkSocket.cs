using System.Buffers.Binary;
using Tiny.Interop;

namespace Tiny.Runtime.Network;

internal delegate void NetlinkReplyHandler(NetlinkMessage message, ReadOnlySpan<byte> payload);

/// <summary>A NETLINK_ROUTE or NETLINK_NETFILTER socket that sends a writer's messages in one
/// datagram and collects the kernel's ACKs, errors and replies.</summary>
internal sealed class NetlinkSocket : IDisposable
{
    const ushort NLM_F_CAPPED = 0x100, NLM_F_ACK_TLVS = 0x200, NLMSGERR_ATTR_MSG = 1;

    readonly int fd;
    readonly byte[] receiveBuffer = new byte[64 * 1024];
    uint lastSequence = (uint)Environment.TickCount;

    NetlinkSocket(int fd) => this.fd = fd;

    public static NetlinkSocket OpenRoute() => new(Netlink.OpenSocket(Netlink.NETLINK_ROUTE));
    public static NetlinkSocket OpenNetfilter() => new(Netlink.OpenSocket(Netlink.NETLINK_NETFILTER));

    /// <summary>A NETLINK_ROUTE socket of the network namespace <paramref name="namespaceFd"/> refers to.</summary>
    public static NetlinkSocket OpenRouteIn(int namespaceFd)
    {
        // A socket stays in the namespace it was made in (network_namespaces(7)), and setns(2) moves
        // only the calling thread: step in, make the socket, step back.
        var own = FileDescriptor.Open("/proc/thread-self/ns/net", FileDescriptor.O_RDONLY);
        try
        {
            Netlink.EnterNetworkNamespace(namespaceFd);
            try
            {
                return new(Netlink.OpenSocket(Netlink.NETLINK_ROUTE));
            }
            finally
            {
                Netlink.EnterNetworkNamespace(own);
            }
        }
        finally
        {
            FileDescriptor.Close(own);
        }
    }

    public uint NextSequence() => ++lastSequence;

    /// <summary>Sends every message of <paramref name="messages"/> in one datagram and waits until
    /// each one that asked for an ACK (<paramref name="acks"/> of them) has its ACK or error.
    /// Replies other than ACKs (echoes, answers to GET requests) go to <paramref name="onReply"/>.
    /// The first error is thrown as a <see cref="SyscallException"/> naming the request.</summary>
    public void Execute(NetlinkWriter messages, int acks, NetlinkReplyHandler? onReply = null)
    {
        Netlink.Send(fd, messages.Written);
        SyscallException? firstError = null;
        var acked = 0;
        while (acked < acks)
        {
            // The kernel handles rtnetlink and nfnetlink requests inside send(), so once an error is
            // seen every other reply is already queued: drain them without waiting.
            var received = Netlink.Receive(fd, receiveBuffer, wait: firstError is null);
            if (received < 0) break;
            var datagram = receiveBuffer.AsSpan(0, received);
            foreach (var message in NetlinkMessage.Split(datagram))
            {
                var payload = datagram.Slice(message.Offset, message.Length);
                if (message.Type == NetlinkMessage.NLMSG_ERROR)
                {
                    acked++;
                    var error = ErrorOf(message, payload, messages);
                    firstError ??= error;
                }
                else onReply?.Invoke(message, payload);
            }
        }
        if (firstError is not null) throw firstError;
    }

    /// <summary>Sends one dump request and hands every reply to <paramref name="onReply"/> until NLMSG_DONE.</summary>
    public void Dump(NetlinkWriter request, NetlinkReplyHandler onReply)
    {
        Netlink.Send(fd, request.Written);
        while (true)
        {
            var received = Netlink.Receive(fd, receiveBuffer, wait: true);
            var datagram = receiveBuffer.AsSpan(0, received);
            foreach (var message in NetlinkMessage.Split(datagram))
            {
                var payload = datagram.Slice(message.Offset, message.Length);
                if (message.Type == NetlinkMessage.NLMSG_DONE) return;
                if (message.Type == NetlinkMessage.NLMSG_ERROR)
                {
                    if (ErrorOf(message, payload, request) is { } error) throw error;
                    return;
                }
                onReply(message, payload);
            }
        }
    }

    /// <summary>The error an NLMSG_ERROR reply carries (struct nlmsgerr, netlink(7)), or null for an ACK.</summary>
    static SyscallException? ErrorOf(NetlinkMessage message, ReadOnlySpan<byte> payload, NetlinkWriter request)
    {
        var errno = -BinaryPrimitives.ReadInt32LittleEndian(payload);
        if (errno == 0) return null;
        var what = request.Describe(message.Sequence);
        if ((message.Flags & NLM_F_ACK_TLVS) != 0 && payload.Length >= 20)
        {
            // With NETLINK_CAP_ACK the request comes back as its header only; else whole.
            var echoed = (message.Flags & NLM_F_CAPPED) != 0 ? 16 : (int)BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
            var attributes = new NetlinkAttributes(payload[Math.Min(payload.Length, 4 + ((echoed + 3) & ~3))..]);
            while (attributes.MoveNext())
                if (attributes.Type == NLMSGERR_ATTR_MSG) what += $" ({attributes.ValueString})";
        }
        return new SyscallException("netlink", errno, what);
    }

    public void Dispose() => Netlink.Close(fd);
}
