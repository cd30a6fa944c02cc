using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>
/// Anonymous MAP_SHARED memory (mmap(2)): pages that stay shared with a child made by clone without CLONE_VM,
/// where ordinary memory becomes a private copy.
/// </summary>
public static unsafe partial class SharedMemory
{
    const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_ANONYMOUS = 0x20;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial void* MmapRaw(void* address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int MunmapRaw(void* address, nuint length);

    /// <summary>Zero-filled, readable and writable shared memory of at least <paramref name="length"/> bytes.</summary>
    public static void* Map(nuint length)
    {
        var address = MmapRaw(null, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        return address != (void*)-1 ? address : throw new SyscallException("mmap", Marshal.GetLastPInvokeError());
    }

    public static void Unmap(void* address, nuint length) => MunmapRaw(address, length);
}
