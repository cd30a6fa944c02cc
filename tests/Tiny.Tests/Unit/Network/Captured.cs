using System.Runtime.CompilerServices;

namespace Tiny.Tests.Unit.Network;

/// <summary>The messages Captured/capture.sh recorded from `ip` and `nft` (see the notes at the top of
/// Captured/captured.txt: tool versions, the ifindex and sequence numbers they used).</summary>
static class Captured
{
    static readonly Dictionary<string, string> Messages = Load();

    public static string Hex(string name) => Messages[name];

    /// <summary>One message of a captured batch datagram, by position (0 = the batch begin).</summary>
    public static string MessageOf(string name, int index)
    {
        var bytes = Convert.FromHexString(Messages[name]);
        var offset = 0;
        for (var i = 0; ; i++)
        {
            var length = BitConverter.ToInt32(bytes, offset);
            if (i == index) return Convert.ToHexStringLower(bytes, offset, length);
            offset += (length + 3) & ~3;
        }
    }

    static Dictionary<string, string> Load([CallerFilePath] string source = "")
    {
        var path = Path.Combine(Path.GetDirectoryName(source)!, "Captured", "captured.txt");
        return File.ReadLines(path).Where(l => !l.StartsWith('#'))
            .Select(l => l.Split(' ')).ToDictionary(f => f[0], f => f[1]);
    }
}
