using System.Text;
using Tiny.Interop;

namespace Tiny;

/// <summary>
/// Lines written straight to fd 1 (write(2)). Console.Out's first use sets up terminal and signal handling with a
/// thread of its own: more than <c>tiny --version</c> or a help text needs.
/// </summary>
internal static class StandardOutput
{
    public static void WriteLine(string line) => FileDescriptor.TryWriteAll(1, Encoding.UTF8.GetBytes(line + "\n"));

    public static void WriteLine(byte[] utf8) => FileDescriptor.TryWriteAll(1, [.. utf8, (byte)'\n']);
}
