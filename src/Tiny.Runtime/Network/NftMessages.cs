using System.Buffers.Binary;
using System.Text;

namespace Tiny.Runtime.Network;

/// <summary>
/// nf_tables requests over NETLINK_NETFILTER (linux/netfilter/nf_tables.h, nfnetlink.h), laid out as
/// nftables' `nft` lays them out. Every request follows struct nfgenmsg; nf_tables integers are big-endian.
/// Changes go in a batch (BATCH_BEGIN ... BATCH_END) that the kernel applies all or nothing.
/// </summary>
internal static class NftMessages
{
    const ushort NFNL_SUBSYS_NFTABLES = 10, NFNL_MSG_BATCH_BEGIN = 16, NFNL_MSG_BATCH_END = 17;
    const ushort NFT_MSG_NEWTABLE = 0, NFT_MSG_GETTABLE = 1, NFT_MSG_DELTABLE = 2, NFT_MSG_NEWCHAIN = 3,
        NFT_MSG_NEWRULE = 6, NFT_MSG_GETRULE = 7, NFT_MSG_DELRULE = 8;
    public const ushort NewRuleType = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE;
    const ushort NFTA_TABLE_NAME = 1, NFTA_TABLE_FLAGS = 2, NFTA_CHAIN_TABLE = 1, NFTA_CHAIN_NAME = 3,
        NFTA_CHAIN_HOOK = 4, NFTA_CHAIN_TYPE = 7, NFTA_HOOK_HOOKNUM = 1, NFTA_HOOK_PRIORITY = 2,
        NFTA_RULE_TABLE = 1, NFTA_RULE_CHAIN = 2, NFTA_RULE_HANDLE = 3, NFTA_RULE_EXPRESSIONS = 4,
        NFTA_RULE_USERDATA = 7, NFTA_LIST_ELEM = 1, NFTA_EXPR_NAME = 1, NFTA_EXPR_DATA = 2;
    const byte NFPROTO_UNSPEC = 0, NFPROTO_IPV4 = 2, NFTNL_UDATA_RULE_COMMENT = 0;
    const ushort Nested = NetlinkWriter.NLA_F_NESTED;

    /// <summary>The netfilter hooks a nat chain attaches to (NF_INET_*).</summary>
    public enum Hook : uint { Prerouting = 0, Output = 3, Postrouting = 4 }

    /// <summary>struct nfgenmsg: family, version 0, resource id (big-endian).</summary>
    static void Begin(NetlinkWriter w, ushort type, ushort flags, uint sequence, byte family, ushort resourceId, string what)
    {
        w.BeginMessage(type, flags, sequence, what);
        w.UInt8(family);
        w.UInt8(0);
        w.UInt16(BinaryPrimitives.ReverseEndianness(resourceId));
    }

    static void BeginTables(NetlinkWriter w, ushort message, ushort flags, uint sequence, string what) =>
        Begin(w, (ushort)(NFNL_SUBSYS_NFTABLES << 8 | message), flags, sequence, NFPROTO_IPV4, 0, what);

    public static void BatchBegin(NetlinkWriter w, uint sequence)
    {
        Begin(w, NFNL_MSG_BATCH_BEGIN, NetlinkWriter.NLM_F_REQUEST, sequence, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES, "begin batch");
        w.EndMessage();
    }

    public static void BatchEnd(NetlinkWriter w, uint sequence)
    {
        Begin(w, NFNL_MSG_BATCH_END, NetlinkWriter.NLM_F_REQUEST, sequence, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES, "end batch");
        w.EndMessage();
    }

    /// <summary>`add table ip TABLE`.</summary>
    public static void AddTable(NetlinkWriter w, uint sequence, ushort flags, string table)
    {
        BeginTables(w, NFT_MSG_NEWTABLE, flags, sequence, $"add nftables table ip {table}");
        w.AttributeString(NFTA_TABLE_NAME, table);
        w.AttributeUInt32BigEndian(NFTA_TABLE_FLAGS, 0);
        w.EndMessage();
    }

    /// <summary>`delete table ip TABLE`, with its chains and rules.</summary>
    public static void DeleteTable(NetlinkWriter w, uint sequence, ushort flags, string table)
    {
        BeginTables(w, NFT_MSG_DELTABLE, flags, sequence, $"delete nftables table ip {table}");
        w.AttributeString(NFTA_TABLE_NAME, table);
        w.EndMessage();
    }

    /// <summary>`list table ip TABLE` without its contents: a NEWTABLE reply, or ENOENT.</summary>
    public static void GetTable(NetlinkWriter w, uint sequence, string table)
    {
        BeginTables(w, NFT_MSG_GETTABLE, NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_ACK, sequence, $"find nftables table ip {table}");
        w.AttributeString(NFTA_TABLE_NAME, table);
        w.EndMessage();
    }

    /// <summary>`add chain ip TABLE CHAIN { type nat hook HOOK priority PRIORITY; }`.</summary>
    public static void AddNatChain(NetlinkWriter w, uint sequence, ushort flags, string table, string chain, Hook hook, int priority)
    {
        BeginTables(w, NFT_MSG_NEWCHAIN, flags, sequence, $"add nftables chain {table} {chain}");
        w.AttributeString(NFTA_CHAIN_TABLE, table);
        w.AttributeString(NFTA_CHAIN_NAME, chain);
        w.AttributeString(NFTA_CHAIN_TYPE, "nat");
        var hookAttribute = w.BeginNested(NFTA_CHAIN_HOOK | Nested);
        w.AttributeUInt32BigEndian(NFTA_HOOK_HOOKNUM, (uint)hook);
        w.AttributeUInt32BigEndian(NFTA_HOOK_PRIORITY, (uint)priority);
        w.EndNested(hookAttribute);
        w.EndMessage();
    }

    /// <summary>`add rule ip TABLE CHAIN EXPRESSIONS [comment COMMENT]`.</summary>
    public static void AddRule(NetlinkWriter w, uint sequence, ushort flags, string table, string chain,
        IReadOnlyList<NftExpression> expressions, string? comment)
    {
        BeginTables(w, NFT_MSG_NEWRULE, flags, sequence, $"add nftables rule to {table} {chain}");
        w.AttributeString(NFTA_RULE_TABLE, table);
        w.AttributeString(NFTA_RULE_CHAIN, chain);
        var list = w.BeginNested(NFTA_RULE_EXPRESSIONS | Nested);
        foreach (var expression in expressions)
        {
            var element = w.BeginNested(NFTA_LIST_ELEM | Nested);
            w.AttributeString(NFTA_EXPR_NAME, expression.Name);
            var data = w.BeginNested(NFTA_EXPR_DATA | Nested);
            expression.WriteData(w);
            w.EndNested(data);
            w.EndNested(element);
        }
        w.EndNested(list);
        if (comment is not null) w.Attribute(NFTA_RULE_USERDATA, CommentUserData(comment));
        w.EndMessage();
    }

    /// <summary>`delete rule ip TABLE CHAIN handle HANDLE`.</summary>
    public static void DeleteRule(NetlinkWriter w, uint sequence, ushort flags, string table, string chain, ulong handle)
    {
        BeginTables(w, NFT_MSG_DELRULE, flags, sequence, $"delete nftables rule {table} {chain} handle {handle}");
        w.AttributeString(NFTA_RULE_TABLE, table);
        w.AttributeString(NFTA_RULE_CHAIN, chain);
        w.AttributeUInt64BigEndian(NFTA_RULE_HANDLE, handle);
        w.EndMessage();
    }

    /// <summary>`list table ip TABLE` rule by rule: one NEWRULE reply per rule.</summary>
    public static void DumpRules(NetlinkWriter w, uint sequence, string table)
    {
        BeginTables(w, NFT_MSG_GETRULE, NetlinkWriter.NLM_F_REQUEST | NetlinkWriter.NLM_F_DUMP, sequence, $"list nftables rules of {table}");
        w.AttributeString(NFTA_RULE_TABLE, table);
        w.EndMessage();
    }

    /// <summary>The chain, handle and comment of a NEWRULE reply (an echo or a dump entry).</summary>
    public static (string Chain, ulong Handle, string? Comment) ParseRule(ReadOnlySpan<byte> payload)
    {
        string chain = "", comment = "";
        ulong handle = 0;
        var hasComment = false;
        var attributes = new NetlinkAttributes(payload[4..]);
        while (attributes.MoveNext())
        {
            switch (attributes.Type)
            {
                case NFTA_RULE_CHAIN: chain = attributes.ValueString; break;
                case NFTA_RULE_HANDLE: handle = BinaryPrimitives.ReadUInt64BigEndian(attributes.Value); break;
                case NFTA_RULE_USERDATA:
                    hasComment = TryReadComment(attributes.Value, out comment);
                    break;
            }
        }
        return (chain, handle, hasComment ? comment : null);
    }

    /// <summary>Rule user data as libnftnl writes a comment: TLV (u8 type, u8 length) holding the
    /// NUL-terminated text, which `nft list` prints as `comment "..."`.</summary>
    static byte[] CommentUserData(string comment)
    {
        var text = Encoding.UTF8.GetBytes(comment);
        var data = new byte[text.Length + 3];
        data[0] = NFTNL_UDATA_RULE_COMMENT;
        data[1] = (byte)(text.Length + 1);
        text.CopyTo(data, 2);
        return data;
    }

    static bool TryReadComment(ReadOnlySpan<byte> userData, out string comment)
    {
        while (userData.Length >= 2)
        {
            var length = userData[1];
            if (userData.Length < 2 + length) break;
            if (userData[0] == NFTNL_UDATA_RULE_COMMENT)
            {
                var text = userData.Slice(2, length);
                comment = Encoding.UTF8.GetString(text.IndexOf((byte)0) is var nul and >= 0 ? text[..nul] : text);
                return true;
            }
            userData = userData[(2 + length)..];
        }
        comment = "";
        return false;
    }
}
