using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>exec, ps, spec, features, run --detach and kill --all, each run by tiny and by runc on the same bundle:
/// the same exit codes, state fields and what the container's processes see.</summary>
public class OciCommandParityTests
{
    static readonly string[] Sleepers = ["sh", "-c", "sleep 100 & sleep 100 & wait"];

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Exec_runs_args_with_cwd_env_user_and_caps_and_passes_the_exit_code_through(string name)
    {
        using var container = await DetachedContainer.Run(name, "exec", Sleepers);
        var (runtime, id) = (container.Runtime, container.Id);

        var echo = await runtime.Run("exec", id, "echo", "hello", "two words");
        await Assert.That(echo.ExitCode).IsEqualTo(0);
        await Assert.That(echo.Stdout).IsEqualTo("hello two words\n");

        var exit = await runtime.Run("exec", id, "sh", "-c", "echo err >&2; exit 3");
        await Assert.That(exit.ExitCode).IsEqualTo(3);
        await Assert.That(exit.Stderr).IsEqualTo("err\n");

        var options = await runtime.Run("exec", "--cwd", "/tmp", "--env", "FOO=bar baz", "--env", "BAR=1", "--user", "1000:1001", id,
            "sh", "-c", "pwd; echo \"$FOO/$BAR\"; id -u; id -g");
        await Assert.That(options.ExitCode).IsEqualTo(0);
        await Assert.That(options.Stdout).IsEqualTo("/tmp\nbar baz/1\n1000\n1001\n");

        // CAP_SYS_ADMIN is bit 21; the spec's default set (AUDIT_WRITE, KILL, NET_BIND_SERVICE) lacks it.
        const string capEff = "grep CapEff /proc/self/status | cut -f2";
        var without = await runtime.Run("exec", id, "sh", "-c", capEff);
        var with = await runtime.Run("exec", "--cap", "CAP_SYS_ADMIN", id, "sh", "-c", capEff);
        await Assert.That(with.ExitCode).IsEqualTo(0);
        var before = Convert.ToUInt64(without.Stdout.Trim(), 16);
        var after = Convert.ToUInt64(with.Stdout.Trim(), 16);
        await Assert.That(before & (1UL << 21)).IsEqualTo(0UL);
        await Assert.That(after).IsEqualTo(before | (1UL << 21));
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Exec_process_runs_a_process_json(string name)
    {
        using var container = await DetachedContainer.Run(name, "process", Sleepers);
        var (runtime, id) = (container.Runtime, container.Id);
        var process = Path.Combine(runtime.Root, "process.json");
        File.WriteAllText(process, """
            {"terminal": false, "user": {"uid": 65534, "gid": 65534}, "args": ["sh", "-c", "echo $GREETING; pwd; id -u; exit 4"],
             "env": ["PATH=/bin", "GREETING=from process.json"], "cwd": "/etc"}
            """);
        var result = await runtime.Run("exec", "--process", process, id);
        await Assert.That(result.ExitCode).IsEqualTo(4);
        await Assert.That(result.Stdout).IsEqualTo("from process.json\n/etc\n65534\n");
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Exec_detach_writes_the_pid_file_of_a_process_in_the_container(string name)
    {
        using var container = await DetachedContainer.Run(name, "execd", Sleepers);
        var (runtime, id) = (container.Runtime, container.Id);
        await runtime.WaitForProcesses(id, 3);
        var pidFile = Path.Combine(runtime.Root, "exec.pid");
        var detached = await runtime.Detached("exec", "--detach", "--pid-file", pidFile, id, "sleep", "100");
        await Assert.That(detached.ExitCode).IsEqualTo(0);
        var pid = int.Parse(File.ReadAllText(pidFile));
        await Assert.That(Tiny.IsAlive(pid)).IsTrue();
        await Assert.That(await runtime.WaitForProcesses(id, 4)).Contains(pid);
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Ps_lists_the_containers_processes_as_json_and_as_a_table_with_pids(string name)
    {
        using var container = await DetachedContainer.Run(name, "ps", Sleepers);
        var (runtime, id) = (container.Runtime, container.Id);
        var init = (int)(await runtime.State(id))["pid"]!;
        var pids = await runtime.WaitForProcesses(id, 3);
        await Assert.That(pids.Length).IsEqualTo(3);
        await Assert.That(pids).Contains(init);
        await Assert.That(pids.All(Tiny.IsAlive)).IsTrue();

        var table = (await runtime.Run("ps", id)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var pidColumn = Array.IndexOf(table[0].Split(' ', StringSplitOptions.RemoveEmptyEntries), "PID");
        await Assert.That(pidColumn).IsGreaterThanOrEqualTo(0);
        await Assert.That(table.Skip(1).Select(l => int.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[pidColumn])).Order())
            .IsEquivalentTo(pids, CollectionOrdering.Matching);
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Run_detach_leaves_a_running_container_its_state_describes(string name)
    {
        using var container = await DetachedContainer.Run(name, "rund", Sleepers);
        var (runtime, id) = (container.Runtime, container.Id);
        var state = await runtime.State(id);
        await Assert.That((string?)state["id"]).IsEqualTo(id);
        await Assert.That((string?)state["status"]).IsEqualTo("running");
        await Assert.That((string?)state["bundle"]).IsEqualTo(container.Bundle.Path);
        await Assert.That((string?)state["rootfs"]).IsEqualTo(BusyboxRootfs.Path);
        await Assert.That(Tiny.IsAlive((int)state["pid"]!)).IsTrue();
        await Assert.That(File.ReadAllText($"/proc/{(int)state["pid"]!}/cmdline")).IsEqualTo("sh\0-c\0sleep 100 & sleep 100 & wait\0");
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Kill_all_signals_every_process_in_the_container(string name)
    {
        // The init catches TERM (the sleeps do not inherit a handler): only the sleeps die of it, and the shell goes on.
        using var container = await DetachedContainer.Run(name, "killall", ["sh", "-c", "trap true TERM; sleep 100 & sleep 100 & wait; sleep 100"]);
        var (runtime, id) = (container.Runtime, container.Id);
        var pids = await runtime.WaitForProcesses(id, 3);
        await Assert.That((await runtime.Run("kill", "--all", id, "TERM")).ExitCode).IsEqualTo(0);
        var init = (int)(await runtime.State(id))["pid"]!;
        var remaining = await runtime.WaitForProcesses(id, 2);
        await Assert.That(pids.Where(p => p != init).All(p => !Tiny.IsAlive(p))).IsTrue();
        await Assert.That(remaining).Contains(init);
        await Assert.That((await runtime.Run("kill", "-a", id, "KILL")).ExitCode).IsEqualTo(0);
        await Assert.That((string?)(await runtime.WaitForStatus(id, "stopped"))["status"]).IsEqualTo("stopped");
        await Assert.That(pids.Any(Tiny.IsAlive)).IsFalse();
    }

    /// <summary>The config.json a runtime's spec writes, made runnable here: no terminal, busybox as its rootfs.</summary>
    static async Task<(string Bundle, JsonObject Config)> SpecOf(RuntimeUnderTest runtime)
    {
        var bundle = Directory.CreateTempSubdirectory("tiny-oci-spec-").FullName;
        var spec = await runtime.Run("spec", "--bundle", bundle);
        if (spec.ExitCode != 0) throw new InvalidOperationException($"{runtime.Name} spec: {spec.Stderr}");
        var path = Path.Combine(bundle, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var written = config.DeepClone().AsObject();
        config["process"]!["terminal"] = false;
        config["process"]!["args"] = new JsonArray("sh", "-c", "echo ran as $(id -u) in $(hostname)");
        config["root"]!["path"] = BusyboxRootfs.Path;
        File.WriteAllText(path, config.ToJsonString());
        return (bundle, written);
    }

    [Test]
    public async Task Spec_writes_a_config_the_other_runtime_runs_with_the_same_namespaces_and_args()
    {
        RuntimeUnderTest.Require("runc");
        using var tiny = RuntimeUnderTest.Of("tiny");
        using var runc = RuntimeUnderTest.Of("runc");
        var (tinyBundle, tinyConfig) = await SpecOf(tiny);
        var (runcBundle, runcConfig) = await SpecOf(runc);
        try
        {
            static string[] Namespaces(JsonObject config) =>
                config["linux"]!["namespaces"]!.AsArray().Select(n => (string)n!["type"]!).Order().ToArray();
            await Assert.That(Namespaces(tinyConfig)).IsEquivalentTo(Namespaces(runcConfig), CollectionOrdering.Matching);
            await Assert.That(tinyConfig["process"]!["args"]!.ToJsonString()).IsEqualTo(runcConfig["process"]!["args"]!.ToJsonString());
            await Assert.That(tinyConfig["ociVersion"]).IsNotNull();

            // Each runtime runs the other's config, under the hostname that config names.
            var runcOnTinys = await runc.Run("run", "--bundle", tinyBundle, runc.NewId("spec"));
            var tinyOnRuncs = await tiny.Run("run", "--bundle", runcBundle, tiny.NewId("spec"));
            await Assert.That(runcOnTinys.Stderr).IsEmpty();
            await Assert.That(tinyOnRuncs.Stderr).IsEmpty();
            await Assert.That(runcOnTinys.ExitCode).IsEqualTo(0);
            await Assert.That(tinyOnRuncs.ExitCode).IsEqualTo(0);
            await Assert.That(tinyOnRuncs.Stdout).IsEqualTo("ran as 0 in runc\n");
            await Assert.That(runcOnTinys.Stdout).IsEqualTo("ran as 0 in tiny\n");
        }
        finally
        {
            Directory.Delete(tinyBundle, recursive: true);
            Directory.Delete(runcBundle, recursive: true);
        }
    }

    [Test]
    public async Task Features_have_runcs_sections_and_the_oci_version_range()
    {
        RuntimeUnderTest.Require("runc");
        var documents = new Dictionary<string, JsonObject>();
        foreach (var name in new[] { "tiny", "runc" })
        {
            using var runtime = RuntimeUnderTest.Of(name);
            var result = await runtime.Run("features");
            await Assert.That(result.ExitCode).IsEqualTo(0);
            documents[name] = JsonNode.Parse(result.Stdout)!.AsObject();
        }
        static string[] Keys(JsonObject o) => o.Select(p => p.Key).Order().ToArray();
        await Assert.That(Keys(documents["tiny"])).IsEquivalentTo(Keys(documents["runc"]), CollectionOrdering.Matching);
        await Assert.That((string?)documents["tiny"]["ociVersionMin"]).StartsWith("1.");
        await Assert.That((string?)documents["tiny"]["ociVersionMax"]).StartsWith("1.");
    }
}
