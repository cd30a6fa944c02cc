using System.Runtime.InteropServices;
using System.Text;

namespace Tiny.Interop;

/// <summary>Starting a program as a new process in a session of its own (posix_spawn(3), setsid(2)).</summary>
public static unsafe partial class Spawn
{
    /// <summary>glibc's POSIX_SPAWN_SETSIGDEF, POSIX_SPAWN_SETSIGMASK and POSIX_SPAWN_SETSID (spawn.h, glibc 2.26).</summary>
    const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;

    /// <summary>glibc's sigset_t: 1024 bits.</summary>
    const int SigsetSize = 128;

    /// <summary>Room for glibc's posix_spawn_file_actions_t (80 bytes) and posix_spawnattr_t (336 bytes) on x86_64.</summary>
    const int OpaqueSize = 512;

    [LibraryImport("libc", EntryPoint = "posix_spawn")]
    private static partial int PosixSpawn(int* pid, byte* path, void* fileActions, void* attributes, byte** argv, byte** envp);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    private static partial int FileActionsInit(void* fileActions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    private static partial int FileActionsAddDup2(void* fileActions, int fd, int newFd);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addchdir_np", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FileActionsAddChdir(void* fileActions, string path);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    private static partial int FileActionsDestroy(void* fileActions);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_init")]
    private static partial int AttributesInit(void* attributes);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    private static partial int AttributesSetFlags(void* attributes, short flags);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    private static partial int AttributesSetSignalMask(void* attributes, byte* mask);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    private static partial int AttributesSetSignalDefault(void* attributes, byte* signals);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    private static partial int AttributesDestroy(void* attributes);

    /// <summary>
    /// Runs <paramref name="path"/> in a new session with <paramref name="fds"/>[i] as its fd i (dup2 clears
    /// close-on-exec, also where the numbers are equal since glibc 2.29); every other fd of ours is close-on-exec.
    /// Returns the new process's pid.
    /// </summary>
    public static int Detached(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, ReadOnlySpan<int> fds) =>
        Start(path, argv, envp, fds, POSIX_SPAWN_SETSID);

    /// <summary>
    /// Runs <paramref name="path"/> as a child with <paramref name="fds"/>[i] as its fd i, every signal at its default
    /// action and none blocked (an ignored signal, such as the SIGPIPE .NET ignores, would stay ignored across exec).
    /// It starts in <paramref name="directory"/> (null: ours). Returns its pid; a path that cannot be executed (or a
    /// directory that cannot be entered) throws with the errno of the execve (or chdir), which glibc reports.
    /// </summary>
    public static int Child(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, ReadOnlySpan<int> fds, string? directory) =>
        Start(path, argv, envp, fds, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK, directory);

    static int Start(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, ReadOnlySpan<int> fds, short flags,
        string? directory = null)
    {
        var strings = new List<nint>();
        var fileActions = NativeMemory.AllocZeroed(OpaqueSize);
        var attributes = NativeMemory.AllocZeroed(OpaqueSize);
        try
        {
            var argvArray = NullTerminated(argv, strings);
            var envpArray = NullTerminated(envp, strings);
            var pathString = (byte*)Utf8(path, strings);
            FileActionsInit(fileActions);
            AttributesInit(attributes);
            for (var i = 0; i < fds.Length; i++) Check(FileActionsAddDup2(fileActions, fds[i], i));
            if (directory is not null) Check(FileActionsAddChdir(fileActions, directory));
            var none = stackalloc byte[SigsetSize];
            var all = stackalloc byte[SigsetSize];
            new Span<byte>(none, SigsetSize).Clear();
            new Span<byte>(all, SigsetSize).Fill(0xff);
            Check(AttributesSetSignalMask(attributes, none));
            Check(AttributesSetSignalDefault(attributes, all));
            Check(AttributesSetFlags(attributes, flags));
            int pid;
            Check(PosixSpawn(&pid, pathString, fileActions, attributes, argvArray, envpArray));
            return pid;
        }
        finally
        {
            FileActionsDestroy(fileActions);
            AttributesDestroy(attributes);
            NativeMemory.Free(fileActions);
            NativeMemory.Free(attributes);
            foreach (var s in strings) NativeMemory.Free((void*)s);
        }

        static void Check(int error)
        {
            if (error != 0) throw new SyscallException("posix_spawn", error);
        }
    }

    static byte** NullTerminated(IReadOnlyList<string> values, List<nint> allocated)
    {
        var array = (byte**)NativeMemory.AllocZeroed((nuint)(values.Count + 1), (nuint)sizeof(nint));
        allocated.Add((nint)array);
        for (var i = 0; i < values.Count; i++) array[i] = (byte*)Utf8(values[i], allocated);
        return array;
    }

    static nint Utf8(string value, List<nint> allocated)
    {
        var bytes = Encoding.UTF8.GetBytes(value + "\0");
        var native = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(native, bytes.Length));
        allocated.Add((nint)native);
        return (nint)native;
    }
}
