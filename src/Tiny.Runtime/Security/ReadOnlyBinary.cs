using Tiny.Interop;

namespace Tiny.Runtime.Security;

/// <summary>
/// CVE-2019-5736. A process tiny clones into a container runs tiny's binary until it execs, and whatever it
/// execs may be a script whose interpreter is /proc/self/exe (the container's own /bin/sh, say): the kernel
/// then runs tiny's binary in the container, dumpable, and any process there can open its /proc/PID/exe and,
/// once it has exited, reopen that fd for writing and replace tiny on the host. So before a command that puts
/// processes into containers, tiny re-executes itself from a private, detached, read-only bind mount of its
/// binary: /proc/self/exe of everything it clones is then a file whose every write open fails with EROFS.
/// </summary>
public static class ReadOnlyBinary
{
    const string Self = "/proc/self/exe";

    /// <summary>
    /// The OCI commands whose processes enter a container with tiny's binary as their exe. Not tiny run: its
    /// monitor is found by its exe (start-stop-daemon --exec), and a detached mount's file reads as "/" there.
    /// </summary>
    public static bool Needed(IReadOnlyList<string> command) => command.Count > 0 && command[0] is "run-bundle" or "create" or "exec";

    /// <summary>Returns when tiny already runs from a read-only mount (or is not root, who alone may make one);
    /// otherwise does not return.</summary>
    public static void Ensure()
    {
        if (!Process.IsHostRoot() || FileSystem.IsOnReadOnlyMount(Self)) return;
        var binary = DetachedMount.CloneTree(Self);
        DetachedMount.MakeReadOnly(binary);
        Process.ExecuteFile(binary, File.ReadAllBytes("/proc/self/cmdline"), File.ReadAllBytes("/proc/self/environ"));
    }
}
