using Tiny.Interop;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Security;

/// <summary>
/// CVE-2019-5736. A process tiny clones into a container runs tiny's binary until it execs (for the life of the
/// container with --init), and whatever it execs may be a script whose interpreter is /proc/self/exe (the
/// container's own /bin/sh, say): the kernel then runs tiny's binary in the container, dumpable, and any process
/// there can open its /proc/PID/exe and, once it has exited, reopen that fd for writing and replace tiny on the
/// host. Where <see cref="ExecTrampoline"/> does not cover a container (or for tiny exec, whose process joins one
/// that already runs), tiny re-executes itself from a read-only bind of its binary: /proc/self/exe of everything it
/// clones is then a file whose every write open fails with EROFS.
/// </summary>
public static class ReadOnlyBinary
{
    const string Self = "/proc/self/exe";

    /// <summary>tiny exec (and runc's exec): its process enters a container that already runs.</summary>
    public static bool Needed(IReadOnlyList<string> command) => command.Count > 0 && command[0] is "exec";

    /// <summary>Before <paramref name="spec"/> is launched, and before anything else is made for it: returns when the
    /// exec trampoline covers it, else as <see cref="Ensure"/> (from tiny run when <paramref name="tinyRun"/>).</summary>
    public static void EnsureFor(RunSpec spec, bool tinyRun)
    {
        // Only host root gets the trampoline or a read-only binary (as ContainerLauncher decides): others skip Covers' checks.
        if (Process.IsHostRoot() && !ExecTrampoline.Covers(spec)) Ensure(tinyRun);
    }

    /// <summary>Returns when tiny already runs from a read-only mount (or is not root, who alone may make one);
    /// otherwise does not return.</summary>
    public static void Ensure(bool tinyRun)
    {
        if (!Process.IsHostRoot() || FileSystem.IsOnReadOnlyMount(Self)) return;
        var argv = FileDescriptor.ReadAllBytes("/proc/self/cmdline");
        var envp = FileDescriptor.ReadAllBytes("/proc/self/environ");
        if (tinyRun && File.ResolveLinkTarget(Self, returnFinalTarget: false)?.FullName is { } path && File.Exists(path))
        {
            // tiny run's monitor is found by its exe's path (start-stop-daemon --exec reads /proc/PID/exe and stats
            // it), and a file of a detached mount reads as "/" there. So the bind lies over the binary at its own
            // path, in a mount namespace of tiny's own that the host's mounts still reach (slave) but that shares
            // none of its own: the host sees no mount, and /proc/PID/exe names the path that holds the same inode.
            Process.Unshare(Namespace.CLONE_NEWNS);
            FileSystem.Mount(null, "/", Mount.MS_REC | Mount.MS_SLAVE);
            FileSystem.Mount(path, path, Mount.MS_BIND);
            FileSystem.Mount(null, path, Mount.MS_REMOUNT | Mount.MS_BIND | Mount.MS_RDONLY);
            Process.ExecuteProgram(path, argv, envp);
        }
        var binary = DetachedMount.CloneTree(Self);
        DetachedMount.MakeReadOnly(binary);
        Process.ExecuteFile(binary, argv, envp);
    }
}
