using System.Diagnostics;

namespace Tiny.Tests.Integration.Run;

/// <summary>--userns auto, --uidmap and --gidmap: the maps the container sees, the IDs the host sees, the
/// id-mapped rootfs, what the container cannot do, and the leases under /run/tiny/userns.</summary>
public class UserNamespaceTests
{
    const string LeaseFile = "/run/tiny/userns/leases";

    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    static Task<Tiny.Result> Sh(string script, params string[] options) => Tiny.Sh(script, ["--net", "none", .. options]);

    /// <summary>A host directory anyone may write to, for containers whose root is not the host's.</summary>
    static string SharedDirectory()
    {
        var dir = Directory.CreateTempSubdirectory("tiny-userns-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0x1ff);
        return dir;
    }

    /// <summary>The line of the lease file for <paramref name="name"/>: host start, name, tiny's and the init's pid:start.</summary>
    static string[]? Lease(string name) =>
        File.Exists(LeaseFile) ? File.ReadAllLines(LeaseFile).Select(l => l.Split(' ')).SingleOrDefault(f => f[1] == name) : null;

    static uint? LeasedStart(string name) => Lease(name) is { } lease ? uint.Parse(lease[0]) : null;

    /// <summary>"Uid:" or "Gid:" of /proc/PID/status: real, effective, saved and filesystem IDs.</summary>
    static string StatusIds(int pid, string field) =>
        File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith(field + ":"))[(field.Length + 1)..].Trim();

    static async Task WaitFor(Func<bool> condition)
    {
        var timer = Stopwatch.StartNew();
        while (!condition())
        {
            if (timer.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("the containers did not get ready");
            await Task.Delay(50);
        }
    }

    [Test]
    [NotInParallel("host-mounts")]
    public async Task Parallel_containers_get_disjoint_leased_ranges_that_the_host_sees_and_give_them_back()
    {
        var shared = SharedDirectory();
        var mounts = Tiny.HostMounts();
        string[] names = [Tiny.UniqueName("userns-a"), Tiny.UniqueName("userns-b")];
        try
        {
            // Each container records what it sees, then stays until the test has looked at it from the host.
            const string script = "cat /proc/self/uid_map /proc/self/gid_map > /shared/$HOSTNAME.maps; id -u > /shared/$HOSTNAME.id; " +
                "touch /shared/$HOSTNAME.file; touch /shared/$HOSTNAME.ready; i=0; while [ ! -e /shared/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done";
            var processes = names.Select(name => Tiny.Start(Tiny.Binary, ["run", "--rootfs", BusyboxRootfs.Path, "--net", "none", "--userns", "auto",
                "--name", name, "-v", $"{shared}:/shared", "--", "/bin/sh", "-c", script])).ToArray();
            await WaitFor(() => names.All(n => File.Exists(Path.Combine(shared, n + ".ready"))));

            var starts = names.Select(n => LeasedStart(n) ?? throw new InvalidOperationException($"no lease for {n}")).ToArray();
            await Assert.That(starts[1]).IsNotEqualTo(starts[0]);
            await Assert.That(Math.Abs((long)starts[1] - starts[0])).IsGreaterThanOrEqualTo(65536);
            for (var i = 0; i < names.Length; i++)
            {
                var line = $"{0,10} {starts[i],10} {65536,10}\n";
                await Assert.That(File.ReadAllText(Path.Combine(shared, names[i] + ".maps"))).IsEqualTo(line + line);
                await Assert.That(File.ReadAllText(Path.Combine(shared, names[i] + ".id"))).IsEqualTo("0\n");
                // The file the container's root made in the bind-mounted directory belongs to the mapped IDs.
                var file = Path.Combine(shared, names[i] + ".file");
                await Assert.That(FileOwner(file)).IsEqualTo($"{starts[i]}:{starts[i]}");
                // The container's processes run as the mapped IDs.
                var cgroup = Tiny.CgroupDirectoriesOf(names[i]).First();
                var pid = int.Parse(Lease(names[i])![3].Split(':')[0]);
                await Assert.That(File.ReadAllLines(Path.Combine(cgroup, "cgroup.procs"))).Contains(pid.ToString());
                await Assert.That(StatusIds(pid, "Uid")).IsEqualTo(string.Join('\t', Enumerable.Repeat(starts[i], 4)));
                await Assert.That(StatusIds(pid, "Gid")).IsEqualTo(string.Join('\t', Enumerable.Repeat(starts[i], 4)));
            }

            File.WriteAllText(Path.Combine(shared, "go"), "");
            foreach (var process in processes)
            {
                await process.WaitForExitAsync();
                await Assert.That(process.ExitCode).IsEqualTo(0);
            }
            foreach (var name in names)
            {
                await Assert.That(LeasedStart(name)).IsNull();
                await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
            }
            await Assert.That(Tiny.HostMounts()).IsEqualTo(mounts);
        }
        finally
        {
            File.WriteAllText(Path.Combine(shared, "go"), "");
            Directory.Delete(shared, recursive: true);
        }
    }

    static string FileOwner(string path)
    {
        var output = Process.Start(new ProcessStartInfo("stat", ["-c", "%u:%g", path]) { RedirectStandardOutput = true })!;
        var owner = output.StandardOutput.ReadToEnd().Trim();
        output.WaitForExit();
        return owner;
    }

    [Test]
    public async Task The_rootfs_owned_by_the_hosts_root_is_root_owned_inside_and_the_capabilities_are_dockers_default()
    {
        await Assert.That(FileOwner(Path.Combine(BusyboxRootfs.Path, "bin", "busybox"))).IsEqualTo("0:0");
        var result = await Sh("stat -c %u:%g /bin/busybox; grep -E '^Cap(Eff|Bnd)' /proc/self/status; grep ' / ' /proc/self/mountinfo | grep -o idmapped",
            "--userns", "auto");
        await Assert.That(result.Stderr).IsEqualTo("");
        await Assert.That(result.Stdout).IsEqualTo("0:0\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nidmapped\n");
    }

    [Test]
    public async Task Devices_cannot_be_made_nor_block_devices_mounted_though_the_hosts_devices_work()
    {
        var root = File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')).FirstOrDefault(f => f[1] == "/" && f[0].StartsWith("/dev/"));
        Skip.Unless(root is not null, "the host's root is not on a block device");
        const string script = "mknod /tmp/null c 1 3; echo mknod=$?; mkdir -p /mnt; mount -t tmpfs scratch /mnt; echo tmpfs=$?; " +
            "mount -t {0} /dev/disk0 /mnt 2>/dev/null; echo block=$?; head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null-ok";
        var result = await Sh(string.Format(script, root![2]), "--userns", "auto", "--cap-add", "SYS_ADMIN", "-v", $"{root[0]}:/dev/disk0");
        await Assert.That(result.Stdout).IsEqualTo("mknod=1\ntmpfs=0\nblock=1\n3\nnull-ok\n");
        await Assert.That(result.Stderr).Contains("mknod: /tmp/null: Operation not permitted");
        // Without a user namespace the same capabilities make the device.
        var withoutUserns = await Sh("mknod /tmp/null c 1 3; echo mknod=$?");
        await Assert.That(withoutUserns.Stdout).IsEqualTo("mknod=0\n");
    }

    [Test]
    public async Task Explicit_maps_are_the_containers_maps()
    {
        var shared = SharedDirectory();
        try
        {
            var result = await Sh("cat /proc/self/uid_map /proc/self/gid_map; id; touch /shared/made",
                "--uidmap", "0:200000:65536", "--gidmap", "0:300000:1000", "--gidmap", "1000:1000:1", "-v", $"{shared}:/shared");
            await Assert.That(result.Stderr).IsEqualTo("");
            await Assert.That(result.Stdout).IsEqualTo(
                $"{0,10} {200000,10} {65536,10}\n{0,10} {300000,10} {1000,10}\n{1000,10} {1000,10} {1,10}\nuid=0(root) gid=0(root)\n");
            await Assert.That(FileOwner(Path.Combine(shared, "made"))).IsEqualTo("200000:300000");
        }
        finally
        {
            Directory.Delete(shared, recursive: true);
        }
    }

    [Test]
    [Arguments("--uidmap=0:100000", "invalid --uidmap \"0:100000\": expected CONTAINER_ID:HOST_ID:COUNT")]
    [Arguments("--uidmap=0:100000:0", "invalid --uidmap \"0:100000:0\": the count must be at least 1")]
    [Arguments("--uidmap=0:100000:10 --uidmap=5:200000:10", "invalid --uidmap \"5:200000:10\": its container IDs overlap those of \"0:100000:10\"")]
    [Arguments("--gidmap=0:100000:10 --gidmap=20:100009:1", "invalid --gidmap \"20:100009:1\": its host IDs overlap those of \"0:100000:10\"")]
    [Arguments("--userns=auto --uidmap=0:100000:10", "--userns auto cannot be combined with --uidmap or --gidmap")]
    [Arguments("--uidmap=0:100000:10 --user=10", "--user uid 10 is not mapped by the user namespace's uid map")]
    [Arguments("--userns=auto --net=host", "a user namespace cannot share the host's network (--net host)")]
    [Arguments("--userns=sometimes", "invalid --userns \"sometimes\": expected auto or host")]
    public async Task A_bad_map_is_one_line_and_exit_125(string options, string message)
    {
        var name = Tiny.UniqueName("userns-bad");
        var result = await Tiny.RunInBusybox(["--name", name, .. options.Split(' ')], "true");
        await Assert.That(result.Stderr).IsEqualTo($"tiny: {message}\n");
        await Assert.That(result.ExitCode).IsEqualTo(125);
        await Assert.That(LeasedStart(name)).IsNull();
    }

    [Test]
    public async Task The_hosts_root_cannot_be_the_rootfs_of_a_user_namespace()
    {
        var result = await Tiny.Run("run", "--userns", "auto", "--", "true");
        await Assert.That(result.Stderr).IsEqualTo("tiny: a user namespace needs --rootfs (the host's root cannot be the rootfs)\n");
        await Assert.That(result.ExitCode).IsEqualTo(125);
    }

    [Test]
    public async Task A_rootfs_that_cannot_be_id_mapped_is_named_and_its_lease_given_back()
    {
        // ramfs cannot be id-mapped; it is mounted in a mount namespace of its own, which goes with the shell, on a
        // directory the shell removes as it ends.
        var name = Tiny.UniqueName("userns-ramfs");
        var script = $"d=$(mktemp -d) && trap 'umount $d; rmdir $d' EXIT && mount -t ramfs ramfs $d && {BusyboxRootfs.CopyCommand("$d")} && " +
            $"{Tiny.Binary} run --rootfs $d --net none --userns auto --name {name} -- true; echo exit=$?";
        var result = await Tiny.Exec("unshare", ["-m", "sh", "-c", script]);
        await Assert.That(result.Stdout).IsEqualTo("exit=125\n");
        await Assert.That(result.Stderr).Matches("^tiny: rootfs /tmp/[^ ]+: its file system cannot be id-mapped \\(mount_setattr MOUNT_ATTR_IDMAP: invalid argument\\), which a user namespace needs\n$");
        await Assert.That(LeasedStart(name)).IsNull();
        await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
    }

    [Test]
    public async Task A_rootfs_the_containers_root_cannot_reach_is_explained()
    {
        var hidden = Directory.CreateTempSubdirectory("tiny-userns-hidden-").FullName;
        try
        {
            await Assert.That(new DirectoryInfo(hidden).UnixFileMode).IsEqualTo((UnixFileMode)0x1c0);
            var rootfs = Path.Combine(hidden, "rootfs");
            await Assert.That((await Tiny.Exec("/bin/sh", ["-c", $"mkdir {rootfs} && {BusyboxRootfs.CopyCommand(rootfs)}"])).ExitCode).IsEqualTo(0);
            var result = await Tiny.Run("run", "--rootfs", rootfs, "--net", "none", "--userns", "auto", "--", "true");
            await Assert.That(result.Stderr).IsEqualTo($"tiny: mount the id-mapped rootfs on {rootfs}: permission denied " +
                "(the container's root must be able to reach it: every directory above the rootfs needs search permission for others)\n");
            await Assert.That(result.ExitCode).IsEqualTo(125);
        }
        finally
        {
            Directory.Delete(hidden, recursive: true);
        }
    }

    [Test]
    public async Task A_command_that_fails_gives_its_lease_back()
    {
        var name = Tiny.UniqueName("userns-fail");
        var result = await Tiny.RunInBusybox(["--net", "none", "--userns", "auto", "--name", name], "/bin/nope");
        await Assert.That(result.ExitCode).IsEqualTo(127);
        await Assert.That(LeasedStart(name)).IsNull();
        await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
    }
}
