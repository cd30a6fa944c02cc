namespace Tiny.Tests.Integration.Oci;

/// <summary>
/// Each OCI command on the same bundle, run by tiny and by runc: the same state fields, exit codes, error
/// texts clients match, and what the container sees.
/// </summary>
public class OciLifecycleTests
{
    const string Loop = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done";

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Create_waits_start_runs_kill_stops_delete_removes(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["sh", "-c", Loop]);
        var id = runtime.NewId("life");

        var create = await runtime.Detached("create", "--bundle", bundle.Path, id);
        await Assert.That(create.ExitCode).IsEqualTo(0);
        var created = await runtime.State(id);
        await Assert.That((string?)created["status"]).IsEqualTo("created");
        await Assert.That((string?)created["id"]).IsEqualTo(id);
        await Assert.That((string?)created["bundle"]).IsEqualTo(bundle.Path);
        await Assert.That((int)created["pid"]!).IsGreaterThan(0);
        await Assert.That((string?)created["ociVersion"]).StartsWith("1.");
        await Assert.That(DateTimeOffset.TryParse((string?)created["created"], out _)).IsTrue();

        await Assert.That((await runtime.Run("start", id)).ExitCode).IsEqualTo(0);
        var running = await runtime.State(id);
        await Assert.That((string?)running["status"]).IsEqualTo("running");
        await Assert.That((int)running["pid"]!).IsEqualTo((int)created["pid"]!);
        var again = await runtime.Run("start", id);
        await Assert.That(again.ExitCode).IsNotEqualTo(0);

        var kill = await runtime.Run("kill", id, "TERM");
        await Assert.That(kill.ExitCode).IsEqualTo(0);
        var stopped = await runtime.WaitForStatus(id, "stopped");
        await Assert.That((string?)stopped["status"]).IsEqualTo("stopped");

        var killStopped = await runtime.Run("kill", id, "KILL");
        await Assert.That(killStopped.ExitCode).IsNotEqualTo(0);
        await Assert.That(killStopped.Stderr).Contains("not running");

        await Assert.That((await runtime.Run("delete", id)).ExitCode).IsEqualTo(0);
        var gone = await runtime.Run("state", id);
        await Assert.That(gone.ExitCode).IsNotEqualTo(0);
        await Assert.That(gone.Stderr).Contains("does not exist");
        await Assert.That(Directory.Exists(Path.Combine(runtime.Root, id))).IsFalse();
        await Assert.That(Tiny.CgroupDirectoriesOf(id)).IsEmpty();
        await Assert.That(Directory.EnumerateDirectories("/sys/fs/cgroup", id, new EnumerationOptions
            { RecurseSubdirectories = true, MaxRecursionDepth = 4, IgnoreInaccessible = true })).IsEmpty();
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task The_container_writes_to_the_creators_stdout_only_after_start(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["sh", "-c", "echo hello from the container"]);
        var id = runtime.NewId("out");
        var output = Path.Combine(runtime.Root, "container-out");
        var create = await Tiny.Exec("/bin/sh", ["-c", $"exec \"$@\" >{output} 2>&1 </dev/null", "sh", runtime.Binary, "--root", runtime.Root,
            "create", "--bundle", bundle.Path, id]);
        await Assert.That(create.ExitCode).IsEqualTo(0);
        await Assert.That(File.ReadAllText(output)).IsEmpty();
        await Assert.That((await runtime.Run("start", id)).ExitCode).IsEqualTo(0);
        await runtime.WaitForStatus(id, "stopped");
        await Assert.That(File.ReadAllText(output)).IsEqualTo("hello from the container\n");
    }

    [Test]
    [Arguments("tiny", "KILL")]
    [Arguments("tiny", "SIGKILL")]
    [Arguments("tiny", "9")]
    [Arguments("runc", "KILL")]
    [Arguments("runc", "SIGKILL")]
    [Arguments("runc", "9")]
    public async Task Kill_takes_signal_names_and_numbers(string name, string signal)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["sleep", "100"]);
        var id = runtime.NewId("kill");
        await Assert.That((await runtime.Detached("run", "--detach", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        await Assert.That((string?)(await runtime.State(id))["status"]).IsEqualTo("running");
        await Assert.That((await runtime.Run("kill", id, signal)).ExitCode).IsEqualTo(0);
        await Assert.That((string?)(await runtime.WaitForStatus(id, "stopped"))["status"]).IsEqualTo("stopped");
        var bad = await runtime.Run("kill", id, "NOSUCHSIGNAL");
        await Assert.That(bad.ExitCode).IsNotEqualTo(0);
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Delete_refuses_a_running_container_unless_forced(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["sleep", "100"]);
        var id = runtime.NewId("del");
        var pidFile = Path.Combine(runtime.Root, "pid");
        await Assert.That((await runtime.Detached("run", "-d", "--pid-file", pidFile, "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var pid = (int)(await runtime.State(id))["pid"]!;
        await Assert.That(File.ReadAllText(pidFile)).IsEqualTo(pid.ToString());

        var refused = await runtime.Run("delete", id);
        await Assert.That(refused.ExitCode).IsNotEqualTo(0);
        await Assert.That((string?)(await runtime.State(id))["status"]).IsEqualTo("running");

        await Assert.That((await runtime.Run("delete", "--force", id)).ExitCode).IsEqualTo(0);
        await Assert.That(Tiny.IsAlive(pid)).IsFalse();
        await Assert.That((await runtime.Run("state", id)).Stderr).Contains("does not exist");
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task A_created_container_is_deleted_without_force(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["sleep", "100"]);
        var id = runtime.NewId("created");
        await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var pid = (int)(await runtime.State(id))["pid"]!;
        await Assert.That((await runtime.Run("delete", id)).ExitCode).IsEqualTo(0);
        await Assert.That(Tiny.IsAlive(pid)).IsFalse();
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task List_shows_each_container_as_table_json_and_ids(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["sleep", "100"]);
        var first = runtime.NewId("list-a");
        var second = runtime.NewId("list-b");
        await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, first)).ExitCode).IsEqualTo(0);
        await Assert.That((await runtime.Detached("run", "--detach", "--bundle", bundle.Path, second)).ExitCode).IsEqualTo(0);

        var quiet = await runtime.Run("list", "-q");
        await Assert.That(quiet.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order())
            .IsEquivalentTo(new[] { first, second }.Order(), CollectionOrdering.Matching);
        var json = System.Text.Json.Nodes.JsonNode.Parse((await runtime.Run("list", "--format", "json")).Stdout)!.AsArray();
        var statuses = json.ToDictionary(c => (string)c!["id"]!, c => (string)c!["status"]!);
        await Assert.That(statuses[first]).IsEqualTo("created");
        await Assert.That(statuses[second]).IsEqualTo("running");
        var table = (await runtime.Run("list")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Assert.That(table[0]).StartsWith("ID");
        await Assert.That(table.Skip(1).Count(l => l.StartsWith(first) && l.Contains("created"))).IsEqualTo(1);
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Run_in_the_foreground_returns_the_exit_code_and_removes_the_container(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        using var bundle = await OciBundle.Create(["sh", "-c", "echo out; echo err >&2; exit 3"]);
        var id = runtime.NewId("fg");
        var result = await runtime.Run("run", "--bundle", bundle.Path, id);
        await Assert.That(result.ExitCode).IsEqualTo(3);
        await Assert.That(result.Stdout).IsEqualTo("out\n");
        await Assert.That(result.Stderr).IsEqualTo("err\n");
        await Assert.That((await runtime.Run("state", id)).Stderr).Contains("does not exist");
    }

    [Test]
    public async Task The_container_sees_the_same_under_tiny_and_runc()
    {
        RuntimeUnderTest.Require("runc");
        const string probe = "id; hostname; ulimit -n; ulimit -Hn; pwd; umask; echo $FOO; grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status; "
            + "ls /dev | sort | tr '\\n' ' '; echo; cat /proc/sys/net/ipv4/ip_forward; "
            + "touch /x 2>&1 | sed 's/.*: //'; cat /proc/asound/cards 2>&1 | head -c 0; echo $$";
        using var bundle = await OciBundle.Create(["sh", "-c", probe], config =>
        {
            config["hostname"] = "probe-host";
            config["process"]!["cwd"] = "/tmp";
            config["process"]!["env"]!.AsArray().Add("FOO=bar baz");
            config["process"]!["user"] = System.Text.Json.Nodes.JsonNode.Parse("""{"uid": 65534, "gid": 65534, "additionalGids": [1, 2], "umask": 18}""");
            config["process"]!["rlimits"] = System.Text.Json.Nodes.JsonNode.Parse("""[{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]""");
            config["process"]!["capabilities"] = System.Text.Json.Nodes.JsonNode.Parse(
                """{"bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}""");
            config["linux"]!["sysctl"] = System.Text.Json.Nodes.JsonNode.Parse("""{"net.ipv4.ip_forward": "1"}""");
        });
        var outputs = new Dictionary<string, Tiny.Result>();
        foreach (var name in new[] { "tiny", "runc" })
        {
            using var runtime = RuntimeUnderTest.Of(name);
            outputs[name] = await runtime.Run("run", "--bundle", bundle.Path, runtime.NewId("probe"));
        }
        await Assert.That(outputs["tiny"].Stderr).IsEmpty();
        await Assert.That(outputs["tiny"].ExitCode).IsEqualTo(0);
        await Assert.That(outputs["tiny"].Stdout).Contains("uid=65534(nobody) gid=65534(nogroup) groups=1,2");
        await Assert.That(outputs["tiny"].Stdout).Contains("probe-host\n256\n512\n/tmp\n0022\nbar baz\n");
        await Assert.That(outputs["tiny"].Stdout).IsEqualTo(outputs["runc"].Stdout);
        await Assert.That(outputs["tiny"].ExitCode).IsEqualTo(outputs["runc"].ExitCode);
    }

    [Test]
    public async Task Config_mounts_look_the_same_under_tiny_and_runc()
    {
        RuntimeUnderTest.Require("runc");
        var data = Directory.CreateTempSubdirectory("tiny-oci-data-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(data, "file"), "from the host\n");
            using var bundle = await OciBundle.Create(["sh", "-c",
                "cat /data/file; touch /data/new 2>&1 | sed 's/.*: //'; grep -E ' /(data|scratch) ' /proc/self/mountinfo | cut -d' ' -f5,6,9,10,11 | sed 's/,inode64//'"],
                config =>
                {
                    config["mounts"]!.AsArray().Add(System.Text.Json.Nodes.JsonNode.Parse(
                        $$"""{"destination": "/data", "type": "bind", "source": "{{data}}", "options": ["rbind", "ro", "nosuid"]}"""));
                    config["mounts"]!.AsArray().Add(System.Text.Json.Nodes.JsonNode.Parse(
                        """{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "size=1m", "mode=700"]}"""));
                    config["root"]!["readonly"] = false;
                });
            var outputs = new Dictionary<string, Tiny.Result>();
            foreach (var name in new[] { "tiny", "runc" })
            {
                using var runtime = RuntimeUnderTest.Of(name);
                outputs[name] = await runtime.Run("run", "--bundle", bundle.Path, runtime.NewId("mounts"));
            }
            await Assert.That(outputs["tiny"].Stderr).IsEmpty();
            await Assert.That(outputs["tiny"].Stdout).StartsWith("from the host\nRead-only file system\n");
            await Assert.That(outputs["tiny"].Stdout).IsEqualTo(outputs["runc"].Stdout);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
            // Both runtimes create missing mount points in the rootfs, as the spec allows.
            foreach (var mountPoint in new[] { "data", "scratch" })
                if (Directory.Exists(Path.Combine(BusyboxRootfs.Path, mountPoint))) Directory.Delete(Path.Combine(BusyboxRootfs.Path, mountPoint));
        }
    }
}
