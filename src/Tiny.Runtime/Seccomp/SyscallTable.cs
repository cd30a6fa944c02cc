using System.Collections.Frozen;

namespace Tiny.Runtime.Seccomp;

/// <summary>
/// System-call numbers of the x86 family, generated at build time from build/syscalls/x86-family.csv
/// (SyscallTable.g.cs). x32 numbers are returned with the x32 bit set, as the kernel reports them.
/// </summary>
public static partial class SyscallTable
{
    /// <summary>Lookups over the generated columns (a nested class: partial files initialise in no set order).</summary>
    static class Index
    {
        public static readonly FrozenDictionary<string, int> RowByName =
            names.Select((name, row) => KeyValuePair.Create(name, row)).ToFrozenDictionary(StringComparer.Ordinal);

        public static readonly FrozenDictionary<uint, string>[] NameByNumber =
            SyscallArches.All.Select(arch => Enumerable.Range(0, names.Length)
                .Where(row => Column(arch)[row] >= 0)
                .ToFrozenDictionary(row => Encode(arch, Column(arch)[row]), row => names[row])).ToArray();
    }

    static short[] Column(SyscallArch arch) => arch switch
    {
        SyscallArch.X86_64 => x86_64,
        SyscallArch.I386 => i386,
        _ => x32,
    };

    static uint Encode(SyscallArch arch, int number) =>
        arch == SyscallArch.X32 ? SyscallArches.X32Bit | (uint)number : (uint)number;

    public static IReadOnlyList<string> Names => names;

    public static bool IsKnown(string name) => Index.RowByName.ContainsKey(name);

    /// <summary>The number <c>seccomp_data.nr</c> carries for <paramref name="name"/> on <paramref name="arch"/>, if it exists there.</summary>
    public static bool TryGetNumber(SyscallArch arch, string name, out uint number)
    {
        number = 0;
        if (!Index.RowByName.TryGetValue(name, out var row)) return false;
        var value = Column(arch)[row];
        if (value < 0) return false;
        number = Encode(arch, value);
        return true;
    }

    public static string? NameOf(SyscallArch arch, uint number) =>
        Index.NameByNumber[(int)arch].GetValueOrDefault(number);
}
