namespace Tiny.Tests.Integration.Oci;

/// <summary>
/// podman and containerd (Debian's) driving tiny in place of runc, on a busybox image imported from a tarball of the
/// test rootfs. Each client gets its own storage, state and socket under a temporary directory, removed afterwards
/// with everything the client left (containers, images, the cgroup parents it names, containerd's shim state).
/// </summary>
// podman and containerd mount under the temporary directory while they run: not beside a test that compares mounts.
[NotInParallel(["real-clients", "host-mounts"])]
public class RealClientTests
{
    const string Podman = "/usr/bin/podman", Ctr = "/usr/bin/ctr", Containerd = "/usr/bin/containerd";

    /// <summary>Podman's default nofile and nproc limits are above this machine's hard limits, which root cannot raise
    /// here (no CAP_SYS_RESOURCE); runc fails the same way without these.</summary>
    const string Ulimits = "--ulimit nofile=1024:1024 --ulimit nproc=4096:4096";

    static async Task<Tiny.Result> Sh(string script) =>
        await Tiny.Exec("/bin/sh", ["-c", script], TimeSpan.FromSeconds(120));

    /// <summary>The shared busybox rootfs as an image layer.</summary>
    static async Task<string> ImageTarball(string dir)
    {
        var tar = Path.Combine(dir, "busybox.tar");
        var result = await Sh($"{BusyboxRootfs.ArchiveCommand} > {tar}");
        if (result.ExitCode != 0) throw new InvalidOperationException(result.Stderr);
        return tar;
    }

    /// <summary>rmdir of a cgroup parent in every hierarchy where the client's run made it, and of the cgroups below it
    /// (podman puts conmon in libpod_parent/conmon); they are empty once the client's processes are gone.</summary>
    static void RemoveCgroupParent(string name, IReadOnlyCollection<string> existedBefore)
    {
        foreach (var hierarchy in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            var dir = Path.Combine(hierarchy, name);
            if (!Directory.Exists(dir) || existedBefore.Contains(dir)) continue;
            foreach (var child in Directory.GetDirectories(dir, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length))
                Directory.Delete(child);
            Directory.Delete(dir);
        }
    }

    static string[] CgroupParents(string name) =>
        Directory.GetDirectories("/sys/fs/cgroup").Select(h => Path.Combine(h, name)).Where(Directory.Exists).ToArray();

    [Test]
    public async Task Podman_runs_execs_stops_and_removes_containers_with_tiny_as_its_runtime()
    {
        Tiny.RequireRootAndBinary();
        Skip.Unless(File.Exists(Podman), "podman is needed (apt-get install podman)");
        Skip.Unless(BusyboxRootfs.Available, "needs a static /bin/busybox");
        var dir = Directory.CreateTempSubdirectory("tiny-podman-").FullName;
        var parentsBefore = CgroupParents("libpod_parent");
        var podman = $"{Podman} --root {dir}/root --runroot {dir}/run --tmpdir {dir}/tmp --storage-driver vfs --cgroup-manager cgroupfs --events-backend none --runtime {Tiny.Binary}";
        var run = $"{podman} run {Ulimits} --network none";
        try
        {
            await Assert.That((await Sh($"{podman} import {await ImageTarball(dir)} localhost/tiny-busybox")).ExitCode).IsEqualTo(0);

            var echo = await Sh($"{run} --rm localhost/tiny-busybox echo hello");
            await Assert.That(echo.Stdout).IsEqualTo("hello\n");
            await Assert.That(echo.ExitCode).IsEqualTo(0);
            await Assert.That((await Sh($"{run} --rm localhost/tiny-busybox sh -c 'exit 7'")).ExitCode).IsEqualTo(7);

            var limited = await Sh($"{run} --rm --memory 64m --pids-limit 50 --cap-drop ALL --read-only --read-only-tmpfs=false --hostname tinyhost " +
                "localhost/tiny-busybox sh -c 'hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; " +
                "grep CapEff /proc/self/status; touch /x || echo read-only; ls /sys/class/net; ulimit -n; " +
                "head -c 1 /dev/zero | wc -c; grep -c \"c 1:3 rwm\" /sys/fs/cgroup/devices/devices.list'");
            await Assert.That(limited.Stdout).IsEqualTo(
                "tinyhost\n67108864\n50\nCapEff:\t0000000000000000\nread-only\nlo\n1024\n1\n1\n");

            // --read-only with podman's default --read-only-tmpfs: /run, /tmp and /var/tmp are tmpcopyup tmpfs mounts.
            var readOnly = await Sh($"{run} --rm --read-only localhost/tiny-busybox sh -c " +
                "'touch /tmp/x /var/tmp/x /run/x && echo tmp-writable; touch /x 2>&1 | sed \"s/.*: //\"; stat -c %a /tmp'");
            await Assert.That(readOnly.Stderr).IsEmpty();
            await Assert.That(readOnly.Stdout).IsEqualTo("tmp-writable\nRead-only file system\n1777\n");

            await Assert.That((await Sh($"{run} -d --name tiny-pd localhost/tiny-busybox sleep 300")).ExitCode).IsEqualTo(0);
            await Assert.That((await Sh($"{podman} ps --format '{{{{.Names}}}} {{{{.Status}}}}'")).Stdout).StartsWith("tiny-pd Up");
            var exec = await Sh($"{podman} exec tiny-pd sh -c 'echo $$; readlink /proc/1/exe; exit 3'");
            await Assert.That(exec.ExitCode).IsEqualTo(3);
            await Assert.That(exec.Stdout).IsNotEqualTo("").And.EndsWith("/bin/busybox\n");
            var terminal = await Sh($"script -qec '{podman} exec -t tiny-pd tty' /dev/null");
            await Assert.That(terminal.Stdout).Contains("/dev/pts/0");
            await Assert.That((await Sh($"{podman} stop -t 1 tiny-pd && {podman} rm tiny-pd")).ExitCode).IsEqualTo(0);
            await Assert.That((await Sh($"{podman} ps -aq")).Stdout).IsEqualTo("");

            var tty = await Sh($"script -qec '{run} --rm -t localhost/tiny-busybox tty' /dev/null");
            await Assert.That(tty.Stdout).Contains("/dev/pts/0");
        }
        finally
        {
            await Sh($"{podman} rm -af -t 0; {podman} rmi -af");
            await Sh($"rm -rf {dir}");
            RemoveCgroupParent("libpod_parent", parentsBefore);
        }
    }

    [Test]
    public async Task Containerd_runs_execs_kills_and_removes_tasks_through_the_runc_shim_with_tiny()
    {
        Tiny.RequireRootAndBinary();
        Skip.Unless(File.Exists(Ctr) && File.Exists(Containerd), "containerd is needed (apt-get install containerd)");
        Skip.Unless(BusyboxRootfs.Available, "needs a static /bin/busybox");
        var dir = Directory.CreateTempSubdirectory("tiny-containerd-").FullName;
        // The shim keeps runc's state under /run/containerd/runc/NAMESPACE and the cgroups under /NAMESPACE: both are this test's own.
        var ns = Tiny.UniqueName("tinytest");
        var shimRoot = $"/run/containerd/runc/{ns}";
        // The shim also makes /run/containerd (fifo/, s/, runc/); removed when this test made it.
        var runDirExisted = Directory.Exists("/run/containerd");
        File.WriteAllText(Path.Combine(dir, "config.toml"), $"""
            version = 2
            root = "{dir}/root"
            state = "{dir}/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "{dir}/containerd.sock"
            """);
        // Its log goes to a file: a pipe nobody reads would fill up and stop it.
        using var daemon = Tiny.Start("/bin/sh", ["-c", $"exec {Containerd} --config {dir}/config.toml >{dir}/containerd.log 2>&1"]);
        var ctr = $"{Ctr} --address {dir}/containerd.sock -n {ns}";
        var image = "localhost/tiny-busybox:latest";
        var run = $"{ctr} run --runc-binary {Tiny.Binary}";
        try
        {
            for (var i = 0; i < 200 && !File.Exists($"{dir}/containerd.sock"); i++) await Task.Delay(50);
            var layer = await ImageTarball(dir);
            var archive = Path.Combine(dir, "image.tar");
            var diffId = (await Sh($"sha256sum {layer} | cut -d' ' -f1")).Stdout.Trim();
            File.WriteAllText(Path.Combine(dir, "image.json"),
                $$$"""{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:{{{diffId}}}"]}}""");
            File.WriteAllText(Path.Combine(dir, "manifest.json"), $$"""[{"Config":"image.json","RepoTags":["{{image}}"],"Layers":["busybox.tar"]}]""");
            await Assert.That((await Sh($"tar -C {dir} -cf {archive} image.json manifest.json busybox.tar && {ctr} image import {archive}")).ExitCode).IsEqualTo(0);

            var echo = await Sh($"{run} --rm {image} tiny-c1 echo hello");
            await Assert.That(echo.Stdout).IsEqualTo("hello\n");
            await Assert.That((await Sh($"{run} --rm {image} tiny-c2 sh -c 'exit 5'")).ExitCode).IsEqualTo(5);

            await Assert.That((await Sh($"{run} -d {image} tiny-c3 sleep 300")).ExitCode).IsEqualTo(0);
            var exec = await Sh($"{ctr} task exec --exec-id e1 tiny-c3 sh -c 'tr \\\\0 \" \" </proc/1/cmdline; exit 2'");
            // PID 1 of the namespace the exec'd process sees is the container's init.
            await Assert.That(exec.Stdout).IsEqualTo("sleep 300 ");
            await Assert.That(exec.ExitCode).IsEqualTo(2);
            var execTty = await Sh($"script -qec '{ctr} task exec --tty --exec-id e2 tiny-c3 tty' /dev/null");
            await Assert.That(execTty.Stdout).Contains("/dev/pts/0");
            await Assert.That((await Sh($"{ctr} task kill -s SIGKILL tiny-c3")).ExitCode).IsEqualTo(0);
            var removed = await Sh($"for i in $(seq 100); do {ctr} task rm tiny-c3 2>/dev/null && break; sleep 0.05; done; {ctr} task ls -q");
            await Assert.That(removed.Stdout).IsEqualTo("");
            await Assert.That((await Sh($"{ctr} container rm tiny-c3")).ExitCode).IsEqualTo(0);

            var tty = await Sh($"script -qec '{run} --rm --tty {image} tiny-c4 tty' /dev/null");
            await Assert.That(tty.Stdout).Contains("/dev/pts/0");
        }
        finally
        {
            await Sh($"for t in $({ctr} task ls -q); do {ctr} task kill -s SIGKILL $t; {ctr} task rm -f $t; done; " +
                $"for c in $({ctr} container ls -q); do {ctr} container rm $c; done; {ctr} image rm {image}");
            daemon.Kill();
            await daemon.WaitForExitAsync();
            await Sh($"for m in $(grep -o '{dir}[^ ]*' /proc/self/mountinfo | sort -r); do umount -l $m; done; rm -rf {dir} {shimRoot}");
            RemoveCgroupParent(ns, []);
            if (!runDirExisted) Directory.Delete("/run/containerd", recursive: true);
        }
    }
}
