using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>
/// POSIX threads (pthread_create(3)) for short work beside the main thread. pthread_create returns as soon as the
/// thread exists, where the runtime's Thread.Start yields until the new thread has run. The functions return an
/// errno value rather than setting errno.
/// </summary>
public static unsafe partial class NativeThread
{
    [LibraryImport("libc", EntryPoint = "pthread_create")]
    private static partial int CreateRaw(out nint thread, nint attributes, delegate* unmanaged<nint, nint> start, nint argument);

    [LibraryImport("libc", EntryPoint = "pthread_join")]
    private static partial int JoinRaw(nint thread, out nint result);

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);

    const int M_ARENA_MAX = -8;

    /// <summary>
    /// Has every thread allocate from glibc's main arena (mallopt(3), M_ARENA_MAX). By default a thread's first malloc
    /// makes it an arena of its own, a 64 MB mapping trimmed by munmap(2), and each munmap of a process with threads on
    /// other CPUs interrupts those CPUs to flush their TLBs; tiny's helper threads malloc little and seldom.
    /// </summary>
    public static void ShareOneMallocArena() => Mallopt(M_ARENA_MAX, 1);

    /// <summary>Starts <paramref name="start"/>(<paramref name="argument"/>) on a new thread.</summary>
    public static nint Start(delegate* unmanaged<nint, nint> start, nint argument)
    {
        var errno = CreateRaw(out var thread, 0, start, argument);
        return errno == 0 ? thread : throw new SyscallException("pthread_create", errno);
    }

    /// <summary>Waits for <paramref name="thread"/> to end and returns what its function returned.</summary>
    public static nint Join(nint thread)
    {
        var errno = JoinRaw(thread, out var result);
        return errno == 0 ? result : throw new SyscallException("pthread_join", errno);
    }
}
