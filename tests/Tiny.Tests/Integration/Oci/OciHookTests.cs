using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>
/// config.json's hooks, the same bundle under tiny and runc: host shell scripts append what they saw (their arguments,
/// an env var of theirs, the state on stdin, their mount, pid and network namespaces, whether / is the container's,
/// whether the container's state is still there) to a log beside them, which the container sees bound at /hooks.
/// </summary>
public class OciHookTests
{
    static readonly string[] Kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

    const string Script = """
        #!/bin/sh
        dir=$(dirname "$0")
        state=$(cat | tr -d '\n')
        if [ -e /hooks ]; then root=container; else root=host; fi
        if [ -e "$STATE_DIR" ]; then kept=present; else kept=gone; fi
        echo "$1|$2|$HOOK_ENV|$(readlink /proc/self/ns/mnt)|$(readlink /proc/self/ns/pid)|$(readlink /proc/self/ns/net)|$root|$kept|$PWD|$state" >> "$dir/log"
        [ "$2" = fail ] && { echo "failing as asked" >&2; exit 3; }
        [ "$2" = hang ] && sleep 30
        exit 0
        """;

    sealed record Entry(string Kind, string Mode, string Env, string Mnt, string Pid, string Net, string Root, string StateDir, string Cwd,
        JsonNode State);

    /// <summary>A directory with the hook script, bound into the container at /hooks (the startContainer hook runs from there).</summary>
    sealed class HookDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("tiny-hooks-").FullName;
        public string Script => System.IO.Path.Combine(Path, "hook.sh");

        public HookDirectory()
        {
            File.WriteAllText(Script, OciHookTests.Script.Replace("\r", "") + "\n");
            File.SetUnixFileMode(Script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        public Entry[] Log()
        {
            var log = System.IO.Path.Combine(Path, "log");
            if (!File.Exists(log)) return [];
            return File.ReadAllLines(log).Select(line => line.Split('|', 10)).Select(f =>
                new Entry(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], JsonNode.Parse(f[9])!)).ToArray();
        }

        /// <summary>One hook of a kind: the script with (kind, mode) as arguments and HOOK_ENV and STATE_DIR in its env.</summary>
        public JsonObject Hook(string kind, string mode, string stateDir, string? path = null, int? timeout = null)
        {
            var hook = new JsonObject
            {
                ["path"] = path ?? Script,
                ["args"] = new JsonArray("hook.sh", kind, mode),
                ["env"] = new JsonArray($"HOOK_ENV={kind}-env", $"STATE_DIR={stateDir}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
            };
            if (timeout is not null) hook["timeout"] = timeout;
            return hook;
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    static Task<OciBundle> Bundle(HookDirectory hooks, string[] args, JsonObject hookConfig) => OciBundle.Create(args, config =>
    {
        config["hooks"] = hookConfig;
        config["mounts"]!.AsArray().Add(new JsonObject
        {
            ["destination"] = "/hooks", ["type"] = "bind", ["source"] = hooks.Path, ["options"] = new JsonArray("rbind"),
        });
    });

    static JsonObject AllHooks(HookDirectory hooks, string stateDir) => new(Kinds.Select(kind => KeyValuePair.Create(kind,
        (JsonNode?)new JsonArray(hooks.Hook(kind, "ok", stateDir, PathInContainer(kind))))));

    /// <summary>startContainer runs in the container, where the hook directory is bound on /hooks; the others on the host.</summary>
    static string? PathInContainer(string kind) => kind == "startContainer" ? "/hooks/hook.sh" : null;

    static string Namespace(string pid, string type) => new FileInfo($"/proc/{pid}/ns/{type}").LinkTarget!;

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Each_hook_runs_once_at_its_point_with_the_state_in_its_own_namespaces(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var hooks = new HookDirectory();
        var id = runtime.NewId("hooks");
        var stateDir = Path.Combine(runtime.Root, id);
        using var bundle = await Bundle(hooks, ["sleep", "30"], AllHooks(hooks, stateDir));

        await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var init = ((int)(await runtime.State(id))["pid"]!).ToString();
        var container = (Mnt: Namespace(init, "mnt"), Pid: Namespace(init, "pid"), Net: Namespace(init, "net"));
        var host = (Mnt: Namespace("self", "mnt"), Pid: Namespace("self", "pid"), Net: Namespace("self", "net"));
        await Assert.That(container.Mnt).IsNotEqualTo(host.Mnt);
        await Assert.That(container.Net).IsNotEqualTo(host.Net);
        var afterCreate = hooks.Log().Select(e => e.Kind).ToArray();
        await Assert.That((await runtime.Run("start", id)).ExitCode).IsEqualTo(0);
        var afterStart = hooks.Log().Select(e => e.Kind).ToArray();
        await Assert.That((await runtime.Run("delete", "--force", id)).ExitCode).IsEqualTo(0);
        var log = hooks.Log();

        // runc 1.1 runs poststart at the end of create (opencontainers/runc#4347; moved to start in #5186); tiny runs it after
        // the process started, before start returns, as the runtime spec says.
        string[] createHooks = ["prestart", "createRuntime", "createContainer"];
        if (name == "runc")
        {
            await Assert.That(afterCreate).IsEquivalentTo([.. createHooks, "poststart"], CollectionOrdering.Matching);
            await Assert.That(afterStart).IsEquivalentTo([.. createHooks, "poststart", "startContainer"], CollectionOrdering.Matching);
        }
        else
        {
            await Assert.That(afterCreate).IsEquivalentTo(createHooks, CollectionOrdering.Matching);
            await Assert.That(afterStart).IsEquivalentTo([.. createHooks, "startContainer", "poststart"], CollectionOrdering.Matching);
        }
        await Assert.That(log.Select(e => e.Kind).ToArray()).IsEquivalentTo([.. afterStart, "poststop"], CollectionOrdering.Matching);

        foreach (var entry in log)
        {
            var inContainer = entry.Kind is "createContainer" or "startContainer";
            var expectedStatus = entry.Kind switch
            {
                "prestart" or "createRuntime" or "createContainer" => "creating",
                "startContainer" => "created",
                "poststart" => name == "runc" ? "created" : "running",
                _ => "stopped",
            };
            await Assert.That(entry.Mode).IsEqualTo("ok");
            await Assert.That(entry.Env).IsEqualTo($"{entry.Kind}-env");
            await Assert.That((string?)entry.State["id"]).IsEqualTo(id);
            await Assert.That((string?)entry.State["bundle"]).IsEqualTo(bundle.Path);
            await Assert.That((string?)entry.State["status"]).IsEqualTo(expectedStatus);
            // The container's own hooks get the init's pid as it sees itself (runc's init reports its getpid()).
            var expectedPid = entry.Kind == "poststop" ? null : inContainer ? "1" : init;
            await Assert.That(entry.State["pid"]?.ToString()).IsEqualTo(expectedPid);
            var expected = inContainer ? container : host;
            await Assert.That((entry.Mnt, entry.Pid, entry.Net)).IsEqualTo(expected);
            await Assert.That(entry.Root).IsEqualTo(entry.Kind == "startContainer" ? "container" : "host");
            // The runtime's hooks of create and start work in the bundle, as runc does; poststop where delete was run.
            if (!inContainer) await Assert.That(entry.Cwd).IsEqualTo(entry.Kind == "poststop" ? Environment.CurrentDirectory : bundle.Path);
            // The state directory is the host's: out of sight after pivot_root.
            if (entry.Kind != "startContainer") await Assert.That(entry.StateDir).IsEqualTo(entry.Kind == "poststop" ? "gone" : "present");
        }
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task A_foreground_run_runs_the_hooks_and_poststop_after_it_deleted_the_container(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var hooks = new HookDirectory();
        var id = runtime.NewId("hookrun");
        using var bundle = await Bundle(hooks, ["sh", "-c", "echo ran; exit 4"], AllHooks(hooks, Path.Combine(runtime.Root, id)));

        var run = await runtime.Run("run", "--bundle", bundle.Path, id);
        await Assert.That(run.ExitCode).IsEqualTo(4);
        await Assert.That(run.Stdout).IsEqualTo("ran\n");
        var log = hooks.Log();
        await Assert.That(log.Select(e => e.Kind).Where(k => k != "poststart").ToArray())
            .IsEquivalentTo(["prestart", "createRuntime", "createContainer", "startContainer", "poststop"], CollectionOrdering.Matching);
        await Assert.That(log.Count(e => e.Kind == "poststart")).IsEqualTo(1);
        await Assert.That(log[^1].StateDir).IsEqualTo("gone");
        await Assert.That(Directory.Exists(Path.Combine(runtime.Root, id))).IsFalse();
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task A_failing_createRuntime_hook_fails_create_leaves_nothing_and_poststop_still_runs(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var hooks = new HookDirectory();
        var id = runtime.NewId("hookfail");
        var stateDir = Path.Combine(runtime.Root, id);
        using var bundle = await Bundle(hooks, ["sleep", "30"], new JsonObject
        {
            ["createRuntime"] = new JsonArray(hooks.Hook("createRuntime", "fail", stateDir)),
            ["poststop"] = new JsonArray(hooks.Hook("poststop", "ok", stateDir)),
        });

        var create = await runtime.Detached("create", "--bundle", bundle.Path, id);
        await Assert.That(create.ExitCode).IsNotEqualTo(0);
        if (name == "tiny")
            await Assert.That(create.Output).IsEqualTo($"tiny: createRuntime hook #0 ({hooks.Script}): exit status 3: failing as asked\n");
        var log = hooks.Log();
        await Assert.That(log.Select(e => e.Kind).ToArray()).IsEquivalentTo(["createRuntime", "poststop"], CollectionOrdering.Matching);
        var init = (int)log[0].State["pid"]!;
        await Assert.That(Tiny.IsAlive(init)).IsFalse();
        await Assert.That(Directory.Exists(stateDir)).IsFalse();
        await Assert.That(Tiny.CgroupDirectoriesOf(id)).IsEmpty();
        await Assert.That((await runtime.Run("state", id)).ExitCode).IsNotEqualTo(0);
    }

    [Test]
    [Arguments("createRuntime")]
    [Arguments("createContainer")]
    public async Task A_hook_past_its_timeout_is_killed_and_fails_create_naming_it(string kind)
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        using var hooks = new HookDirectory();
        var id = runtime.NewId("hooktime");
        using var bundle = await Bundle(hooks, ["sleep", "30"], new JsonObject
        {
            [kind] = new JsonArray(hooks.Hook(kind, "hang", Path.Combine(runtime.Root, id), timeout: 1)),
        });

        var clock = Stopwatch.StartNew();
        var create = await runtime.Detached("create", "--bundle", bundle.Path, id);
        await Assert.That(clock.Elapsed).IsLessThan(TimeSpan.FromSeconds(10));
        await Assert.That(create.ExitCode).IsEqualTo(125);
        await Assert.That(create.Output).IsEqualTo($"tiny: {kind} hook #0 ({hooks.Script}): timed out after 1s (killed)\n");
        await Assert.That(Directory.Exists(Path.Combine(runtime.Root, id))).IsFalse();
        await Assert.That(Tiny.CgroupDirectoriesOf(id)).IsEmpty();
    }

    [Test]
    public async Task A_failing_startContainer_or_poststart_hook_fails_start_and_destroys_the_container()
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        using var hooks = new HookDirectory();
        foreach (var kind in new[] { "startContainer", "poststart" })
        {
            var id = runtime.NewId("hookstart");
            var stateDir = Path.Combine(runtime.Root, id);
            using var bundle = await Bundle(hooks, ["sleep", "30"], new JsonObject
            {
                [kind] = new JsonArray(hooks.Hook(kind, "fail", stateDir, PathInContainer(kind))),
                ["poststop"] = new JsonArray(hooks.Hook("poststop", "ok", stateDir)),
            });
            await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
            var init = (int)(await runtime.State(id))["pid"]!;
            var start = await runtime.Run("start", id);
            await Assert.That(start.ExitCode).IsEqualTo(125);
            var path = PathInContainer(kind) ?? hooks.Script;
            var expected = kind == "startContainer" ? "exit status 3" : "exit status 3: failing as asked";
            await Assert.That(start.Stderr).IsEqualTo($"tiny: {kind} hook #0 ({path}): {expected}\n");
            await Assert.That(Tiny.IsAlive(init)).IsFalse();
            await Assert.That(Directory.Exists(stateDir)).IsFalse();
            await Assert.That(Tiny.CgroupDirectoriesOf(id)).IsEmpty();
            await Assert.That(hooks.Log()[^1].Kind).IsEqualTo("poststop");
        }
    }

    [Test]
    public async Task Start_reads_until_the_exec_so_a_process_that_cannot_exec_fails_it()
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        using var bundle = await OciBundle.Create(["/no/such/command"]);
        var id = runtime.NewId("noexec");
        await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var start = await runtime.Run("start", id);
        await Assert.That(start.ExitCode).IsEqualTo(125);
        await Assert.That(start.Stderr).IsEqualTo($"tiny: container \"{id}\": its process did not start: no such file or directory\n");
        await Assert.That((string?)(await runtime.WaitForStatus(id, "stopped"))["status"]).IsEqualTo("stopped");
    }

    [Test]
    public async Task A_failing_poststop_hook_is_a_warning_the_next_one_runs_and_delete_succeeds()
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        using var hooks = new HookDirectory();
        var id = runtime.NewId("hookstop");
        var stateDir = Path.Combine(runtime.Root, id);
        using var bundle = await Bundle(hooks, ["sleep", "30"], new JsonObject
        {
            ["poststop"] = new JsonArray(hooks.Hook("poststop", "fail", stateDir), hooks.Hook("poststop", "ok", stateDir)),
        });
        await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var logFile = Path.Combine(runtime.Root, "tiny.log");

        var delete = await runtime.Run("--log", logFile, "delete", "--force", id);
        await Assert.That(delete.ExitCode).IsEqualTo(0);
        await Assert.That(hooks.Log().Select(e => e.Mode).ToArray()).IsEquivalentTo(["fail", "ok"], CollectionOrdering.Matching);
        await Assert.That(File.ReadAllText(logFile)).Contains($"WARN poststop hook #0 ({hooks.Script}): exit status 3: failing as asked");
        await Assert.That(Directory.Exists(stateDir)).IsFalse();
        await Assert.That(Tiny.CgroupDirectoriesOf(id)).IsEmpty();
    }
}
