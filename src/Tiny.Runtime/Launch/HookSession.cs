using System.Collections;
using Microsoft.Extensions.Logging;
using Tiny.Interop;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Spec;
using ZLogger;

namespace Tiny.Runtime.Launch;

/// <summary>
/// The runtime's side of a container's hooks: the hooks tiny runs itself (prestart, createRuntime, poststart, poststop,
/// in the runtime's namespaces) and the pipes that carry the state to the ones the container child runs (createContainer,
/// startContainer). <paramref name="state"/> gives the state JSON for a status and pid (runtime.md, "State"). The hooks of
/// create and start run in <paramref name="bundle"/>, as runc's (it works there); poststop in tiny's working directory,
/// as runc delete's.
/// </summary>
public sealed class HookSession(ContainerHooks hooks, Func<string, int, byte[]> state, string bundle, ILogger log) : IDisposable
{
    /// <summary>Pipe capacity (pipe(7)): the state is written before the hook runs, so it must fit.</summary>
    const int PipeCapacity = 65536;

    const int O_TMPFILE = 0x410000;

    readonly List<int> _fds = [];

    public ContainerHooks Hooks => hooks;

    /// <summary>Before clone: a pipe for each hook the child runs, and /dev/null for their output; null when there are none.</summary>
    public ContainerPlan.HookChannel? OpenChannel()
    {
        var count = hooks[HookKind.CreateContainer].Count + hooks[HookKind.StartContainer].Count;
        if (count == 0) return null;
        List<int> reads = [], writes = [];
        for (var i = 0; i < count; i++)
        {
            var (read, write) = FileDescriptor.CreatePipe();
            _fds.AddRange([read, write]);
            reads.Add(read);
            writes.Add(write);
        }
        var output = FileDescriptor.Open("/dev/null", FileDescriptor.O_WRONLY);
        _fds.Add(output);
        return new ContainerPlan.HookChannel(reads, writes, output);
    }

    /// <summary>
    /// After clone, before the child goes on: each of its hooks' pipes gets the state (createContainer: creating,
    /// startContainer: created; <paramref name="pidInside"/> is the init's pid as it sees itself, as runc's init reports
    /// its own getpid()) and is closed here.
    /// </summary>
    public void FillChannel(ContainerPlan.HookChannel channel, int pidInside)
    {
        var creating = State("creating", pidInside);
        var created = State("created", pidInside);
        var createCount = hooks[HookKind.CreateContainer].Count;
        for (var i = 0; i < channel.InputWrites.Count; i++)
        {
            FileDescriptor.WriteAll(channel.InputWrites[i], i < createCount ? creating : created);
            Close(channel.InputWrites[i]);
        }
        Close(channel.InputReads);
        Close([channel.Output]);
    }

    /// <summary>Runs the hooks of <paramref name="kind"/> in order; the first that fails throws, naming it.</summary>
    public void Run(HookKind kind, string status, int pid)
    {
        var list = hooks[kind];
        if (list.Count == 0) return;
        var json = State(status, pid);
        for (var i = 0; i < list.Count; i++)
        {
            log.ZLogDebug($"running {ContainerHooks.Describe(kind, i, list[i])}");
            var (outcome, output) = RunHook(list[i], i, json, bundle);
            if (outcome != 0) throw Failure(kind, i, list[i], outcome, output);
        }
    }

    /// <summary>The poststop hooks: a failure is a warning and the next one still runs (runtime.md, "Lifecycle" step 13).</summary>
    public void RunPoststop()
    {
        var list = hooks[HookKind.Poststop];
        if (list.Count == 0) return;
        var json = State("stopped", 0);
        for (var i = 0; i < list.Count; i++)
        {
            var (outcome, output) = RunHook(list[i], i, json, directory: null);
            if (outcome != 0) log.ZLogWarning($"{Failure(HookKind.Poststop, i, list[i], outcome, output).Message}");
        }
    }

    /// <summary>The error for a hook that failed: "createRuntime hook #0 (/path): exit status 3: what it wrote".</summary>
    public static ContainerError Failure(HookKind kind, int index, Hook hook, int outcome, string output = "") =>
        new($"{ContainerHooks.Describe(kind, index, hook)}: {HookOutcome.Describe(outcome, hook.TimeoutSeconds)}{(output.Length > 0 ? ": " + output : "")}");

    byte[] State(string status, int pid)
    {
        var json = state(status, pid);
        return json.Length < PipeCapacity ? json : throw new ContainerError($"hooks: the container's state is {json.Length} bytes, more than a pipe holds ({PipeCapacity})");
    }

    /// <summary>
    /// Runs one hook here: the state on its stdin, its stdout and stderr to an unnamed temporary file (their first line
    /// goes into the error when it fails), killed after its timeout. Returns 0 or a <see cref="HookOutcome"/>.
    /// </summary>
    static (int Outcome, string Output) RunHook(Hook hook, int index, byte[] json, string? directory)
    {
        var (input, write) = FileDescriptor.CreatePipe();
        int output = -1, pidFd = -1, pid = -1;
        try
        {
            FileDescriptor.WriteAll(write, json);
            FileDescriptor.Close(write);
            write = -1;
            output = FileDescriptor.Open("/tmp", O_TMPFILE | FileDescriptor.O_RDWR, 0x180 /* 0600 */);
            try
            {
                pid = Spawn.Child(hook.Path, hook.Argv, hook.Env ?? InheritedEnvironment(), [input, output, output], directory);
            }
            catch (SyscallException e)
            {
                return (HookOutcome.Encode(index, HookOutcome.ExecFailed, e.Errno), "");
            }
            pidFd = Process.OpenPidFd(pid);
            var timedOut = false;
            if (hook.TimeoutSeconds is { } seconds)
            {
                Span<FileDescriptor.PollFd> poll = [new() { Fd = pidFd, Events = FileDescriptor.POLLIN }];
                if (FileDescriptor.Poll(poll, seconds * 1000) == 0) timedOut = Process.Kill(pid, Process.SIGKILL);
            }
            var status = Process.WaitForExit(pid);
            pid = -1;
            var outcome = timedOut ? HookOutcome.Encode(index, HookOutcome.TimedOut, 0) : status == 0 ? 0 : HookOutcome.FromWaitStatus(index, status);
            return (outcome, outcome == 0 ? "" : FirstLine(FileDescriptor.ReadAllText($"/proc/self/fd/{output}")));
        }
        finally
        {
            if (pid > 0)
            {
                Process.Kill(pid, Process.SIGKILL);
                Process.WaitForExit(pid);
            }
            foreach (var fd in new[] { input, write, output, pidFd }) FileDescriptor.Close(fd);
        }
    }

    static string FirstLine(string text) => text.Trim().Split('\n')[0].Trim();

    /// <summary>A hook without env gets tiny's environment, as runc's get runc's (Go's exec.Cmd with a nil Env).</summary>
    static string[] InheritedEnvironment() =>
        [.. Environment.GetEnvironmentVariables().Cast<DictionaryEntry>().Select(e => $"{e.Key}={e.Value}")];

    void Close(IEnumerable<int> fds)
    {
        foreach (var fd in fds) Close(fd);
    }

    void Close(int fd)
    {
        if (_fds.Remove(fd)) FileDescriptor.Close(fd);
    }

    public void Dispose()
    {
        foreach (var fd in _fds) FileDescriptor.Close(fd);
        _fds.Clear();
    }
}
