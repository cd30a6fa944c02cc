using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Run;

/// <summary>
/// tiny without root: a test user made for the class (useradd, with an /etc/subuid and /etc/subgid range) runs tiny
/// through setpriv with a clean environment. The user, its ranges, its state directory and its files are gone
/// afterwards, /etc/passwd, /etc/subuid and the others as they were.
/// </summary>
[NotInParallel("rootless-user")]
public class RootlessUserTests
{
    static readonly string[] AccountFiles = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/subuid", "/etc/subgid"];
    static readonly Dictionary<string, string?> Saved = [];
    static readonly string User = $"tinyrl{Guid.NewGuid().ToString("N")[..6]}";
    const uint SubStart = 3900000000;
    static string Home = "";
    static uint Uid;

    static string Rootfs => Path.Combine(Home, "rootfs");

    [Before(Class)]
    public static async Task CreateUser()
    {
        if (!Tiny.IsRoot || !File.Exists(Tiny.Binary) || !BusyboxRootfs.Available || !File.Exists("/usr/bin/newuidmap")) return;
        foreach (var file in AccountFiles) Saved[file] = File.Exists(file) ? File.ReadAllText(file) : null;
        await Must("useradd", "-M", "-s", "/bin/sh", User);
        // useradd may have given the user a range of its own: the test's replaces it.
        foreach (var file in new[] { "/etc/subuid", "/etc/subgid" })
            File.WriteAllLines(file, File.ReadAllLines(file).Where(l => !l.StartsWith(User + ":")).Append($"{User}:{SubStart}:65536"));
        Uid = uint.Parse((await Must("id", "-u", User)).Trim());
        Home = Directory.CreateTempSubdirectory("tiny-rootless-").FullName;
        File.SetUnixFileMode(Home, (UnixFileMode)0x1ed);
        await Must("sh", "-c", $"mkdir {Rootfs} && {BusyboxRootfs.CopyCommand(Rootfs)}");
        await Must("chown", "-R", $"{User}:{User}", Home);
    }

    [After(Class)]
    public static async Task RemoveUser()
    {
        if (Saved.Count == 0) return;
        await Tiny.Exec("userdel", [User]);
        foreach (var (file, text) in Saved)
        {
            if (text is null) File.Delete(file);
            else if (File.ReadAllText(file) != text) File.WriteAllText(file, text);
        }
        if (Home.Length > 0) Directory.Delete(Home, recursive: true);
        if (Directory.Exists($"/tmp/tiny-{Uid}")) Directory.Delete($"/tmp/tiny-{Uid}", recursive: true);
    }

    [Before(Test)]
    public void Require()
    {
        Tiny.RequireRootAndBinary();
        Skip.Unless(File.Exists("/usr/bin/newuidmap"), "newuidmap is needed (apt-get install uidmap)");
    }

    static async Task<string> Must(string file, params string[] args)
    {
        var result = await Tiny.Exec(file, args);
        if (result.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {result.Stderr}");
        return result.Stdout;
    }

    /// <summary>tiny as the test user, in its home, with nothing of root's environment.</summary>
    static Task<Tiny.Result> AsUser(params string[] args) => AsUser("cd \"$0\" && exec \"$@\"", args);

    static Task<Tiny.Result> AsUser(string script, string[] args) =>
        Tiny.Exec("/usr/bin/setpriv", ["--reuid", User, "--regid", User, "--init-groups", "/usr/bin/env", "-i", "PATH=/usr/bin:/bin",
            "/bin/sh", "-c", script, Home, Tiny.Binary, .. args]);

    /// <summary>A command whose container outlives it (create): its output goes to a file, not to a pipe the test would wait on.</summary>
    static Task<Tiny.Result> AsUserDetached(params string[] args) => AsUser("cd \"$0\" && exec \"$@\" >detached.out 2>&1 </dev/null", args);

    [Test]
    public async Task The_user_is_root_inside_with_its_subordinate_ids_after_it()
    {
        var result = await AsUser("run", "--rootfs", Rootfs, "--", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g /bin/busybox");
        await Assert.That(result.Stderr).IsEmpty();
        await Assert.That(result.ExitCode).IsEqualTo(0);
        var map = $"{0,10} {Uid,10} {1,10}\n{1,10} {SubStart,10} {65536,10}\n";
        await Assert.That(result.Stdout).IsEqualTo($"0\n0\n{map}{map}0:0\n");
        await Assert.That((await AsUser("run", "--rootfs", Rootfs, "--", "sh", "-c", "exit 3")).ExitCode).IsEqualTo(3);
    }

    [Test]
    public async Task The_users_files_bound_in_are_owned_by_0_inside_and_what_root_makes_there_is_the_users()
    {
        var data = Path.Combine(Home, "data");
        Directory.CreateDirectory(data);
        File.WriteAllText(Path.Combine(data, "mine"), "");
        await Must("chown", "-R", $"{User}:{User}", data);
        var result = await AsUser("run", "--rootfs", Rootfs, "-v", $"{data}:/data", "--", "sh", "-c", "stat -c %u:%g /data/mine; touch /data/made");
        await Assert.That(result.Stderr).IsEmpty();
        await Assert.That(result.Stdout).IsEqualTo("0:0\n");
        await Assert.That((await Must("stat", "-c", "%u", Path.Combine(data, "made"))).Trim()).IsEqualTo(Uid.ToString());
    }

    /// <summary>Rootless podman runs its runtime as root of a user namespace of its own: tiny takes that for
    /// rootless (no host cgroups, device nodes bound, state under XDG_RUNTIME_DIR).</summary>
    [Test]
    public async Task Podman_as_the_user_runs_echo_and_returns_the_exit_code_with_tiny_as_its_runtime()
    {
        Skip.Unless(File.Exists("/usr/bin/podman"), "podman is needed (apt-get install podman)");
        var runtime = Path.Combine(Home, "tiny");
        File.Copy(Tiny.Binary, runtime, overwrite: true);
        await Must("tar", "-C", Rootfs, "-cf", Path.Combine(Home, "image.tar"), ".");
        await Must("chown", $"{User}:{User}", runtime, Path.Combine(Home, "image.tar"));
        // podman's own state in the test's home: storage, run directory, nothing of the host's.
        const string script = "export HOME=\"$0\" XDG_RUNTIME_DIR=\"$0/run\"; mkdir -p -m 700 \"$XDG_RUNTIME_DIR\"; cd \"$0\"; "
            + "podman import image.tar localhost/tinytest:latest >/dev/null && "
            + "podman run --rm --runtime \"$0/tiny\" --network none localhost/tinytest:latest sh -c 'echo hello from podman; id -u; exit 3'; "
            + "echo status=$?; "
            // --read-only: the tmpcopyup tmpfs mounts are made by tiny as root of podman's user namespace.
            + "podman run --rm --runtime \"$0/tiny\" --network none --read-only localhost/tinytest:latest sh -c "
            + "'touch /tmp/x /run/x && echo tmp-writable; touch /x 2>&1 | sed \"s/.*: //\"'; "
            + "podman system reset -f >/dev/null 2>&1";
        try
        {
            var result = await AsUser(script, []);
            await Assert.That(result.Stdout).IsEqualTo("hello from podman\n0\nstatus=3\ntmp-writable\nRead-only file system\n");
        }
        finally
        {
            // podman leaves a pause process holding its user namespace.
            await Tiny.Exec("pkill", ["-KILL", "-u", User]);
        }
    }

    [Test]
    public async Task A_state_directory_someone_else_made_first_is_refused()
    {
        // The user's own state directory from earlier tests goes; root makes one in its place.
        var planted = $"/tmp/tiny-{Uid}";
        if (Directory.Exists(planted)) Directory.Delete(planted, recursive: true);
        Directory.CreateDirectory(planted);
        try
        {
            var result = await AsUser("run", "--rootfs", Rootfs, "--", "true");
            await Assert.That(result.ExitCode).IsEqualTo(125);
            await Assert.That(result.Stderr).IsEqualTo($"tiny: state directory {planted}: not a directory of yours that only you can use (owner 0, mode 755)\n");
        }
        finally
        {
            Directory.Delete(planted, recursive: true);
        }
    }

    [Test]
    public async Task A_limit_without_a_delegated_cgroup_is_refused_in_one_line()
    {
        Skip.When(Tiny.Exec("stat", ["-fc", "%T", "/sys/fs/cgroup"]).Result.Stdout.Trim() == "cgroup2fs", "cgroup v2 may be delegated here");
        var result = await AsUser("run", "--rootfs", Rootfs, "--memory", "64M", "--", "true");
        await Assert.That(result.ExitCode).IsEqualTo(125);
        await Assert.That(result.Stderr).StartsWith("tiny: resource limits need a cgroup, and rootless tiny has none to use: ");
        await Assert.That(result.Stderr.TrimEnd('\n')).DoesNotContain("\n");
    }

    [Test]
    public async Task A_rootless_bundle_goes_through_create_start_state_exec_kill_delete()
    {
        var bundle = await RootlessBundle("bundle", """["sh", "-c", "id -u > /tmp/seen; trap 'exit 7' TERM; while :; do sleep 0.05; done"]""",
            readonlyRoot: false);
        var id = Tiny.UniqueName("rootless");

        var create = await AsUserDetached("create", "--bundle", bundle, id);
        await Assert.That(create.ExitCode).IsEqualTo(0);
        var state = JsonNode.Parse((await AsUser("state", id)).Stdout)!;
        await Assert.That((string?)state["status"]).IsEqualTo("created");
        await Assert.That(File.ReadAllLines($"/proc/{(int)state["pid"]!}/status").Single(l => l.StartsWith("Uid:"))).StartsWith($"Uid:\t{Uid}\t");
        await Assert.That((await AsUser("start", id)).ExitCode).IsEqualTo(0);
        var seen = Path.Combine(Rootfs, "tmp", "seen");
        // The shell creates the file, then writes it: wait for the line.
        for (var i = 0; i < 200 && !(File.Exists(seen) && File.ReadAllText(seen).EndsWith('\n')); i++) await Task.Delay(25);
        await Assert.That(File.ReadAllText(Path.Combine(Rootfs, "tmp", "seen"))).IsEqualTo("0\n");
        await Assert.That((string?)JsonNode.Parse((await AsUser("state", id)).Stdout)!["status"]).IsEqualTo("running");
        var exec = await AsUser("exec", id, "sh", "-c", "id -u; cat /tmp/seen; exit 4");
        await Assert.That(exec.Stderr).IsEmpty();
        await Assert.That(exec.Stdout).IsEqualTo("0\n0\n");
        await Assert.That(exec.ExitCode).IsEqualTo(4);
        await Assert.That((await AsUser("kill", id, "TERM")).ExitCode).IsEqualTo(0);
        string? status = null;
        for (var i = 0; i < 200 && status != "stopped"; i++, await Task.Delay(25))
            status = (string?)JsonNode.Parse((await AsUser("state", id)).Stdout)!["status"];
        await Assert.That(status).IsEqualTo("stopped");
        await Assert.That((await AsUser("delete", id)).ExitCode).IsEqualTo(0);
        await Assert.That(Directory.Exists($"/tmp/tiny-{Uid}/{id}")).IsFalse();
    }

    /// <summary>tiny fills a tmpcopyup tmpfs before clone, which takes CAP_SYS_ADMIN over its mount namespace: a plain user
    /// has none (rootless podman runs tiny as root of a user namespace, where it works).</summary>
    [Test]
    public async Task A_tmpcopyup_mount_run_by_a_plain_user_is_refused_in_one_line_and_leaves_nothing()
    {
        var bundle = await RootlessBundle("bundle-copyup", """["true"]""", readonlyRoot: true, config =>
            config["mounts"]!.AsArray().Add(JsonNode.Parse("""{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}""")));
        var id = Tiny.UniqueName("rootless-copyup");

        var result = await AsUser("run", "--bundle", bundle, id);
        await Assert.That(result.ExitCode).IsEqualTo(125);
        await Assert.That(result.Stderr).StartsWith("tiny: mount tmpfs on /tmp (tmpcopyup): fsopen tmpfs: ");
        await Assert.That(result.Stderr.TrimEnd('\n')).DoesNotContain("\n");
        await Assert.That(Directory.Exists($"/tmp/tiny-{Uid}/{id}")).IsFalse();
    }

    /// <summary>A bundle in the user's home from `tiny spec --rootless` run as the user, with <paramref name="args"/> (JSON)
    /// as its process and the test rootfs as its root.</summary>
    static async Task<string> RootlessBundle(string name, string args, bool readonlyRoot, Action<JsonObject>? change = null)
    {
        var bundle = Path.Combine(Home, name);
        Directory.CreateDirectory(bundle);
        await Must("chown", $"{User}:{User}", bundle);
        await Assert.That((await AsUser("spec", "--rootless", "--bundle", bundle)).ExitCode).IsEqualTo(0);
        var configPath = Path.Combine(bundle, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["process"]!["terminal"] = false;
        config["process"]!["args"] = JsonNode.Parse(args);
        config["root"] = new JsonObject { ["path"] = Rootfs, ["readonly"] = readonlyRoot };
        change?.Invoke(config);
        File.WriteAllText(configPath, config.ToJsonString());
        return bundle;
    }
}
