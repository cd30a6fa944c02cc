using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Anonymous files in memory (memfd_create(2)) and the seals that freeze them (fcntl(2), "File seals").</summary>
public static partial class MemoryFile
{
    public const uint MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2, MFD_EXEC = 0x10;
    public const int F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8;
    const int F_ADD_SEALS = 1033;

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int CreateRaw(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlRaw(int fd, int command, int argument);

    /// <summary>A new memory file; <see cref="SyscallException"/> with the errno when the kernel refuses the flags.</summary>
    public static int Create(string name, uint flags)
    {
        var fd = CreateRaw(name, flags);
        return fd >= 0 ? fd : throw new SyscallException("memfd_create", Marshal.GetLastPInvokeError());
    }

    public static void AddSeals(int fd, int seals)
    {
        if (FcntlRaw(fd, F_ADD_SEALS, seals) < 0) throw new SyscallException("fcntl(F_ADD_SEALS)", Marshal.GetLastPInvokeError());
    }
}
