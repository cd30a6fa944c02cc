namespace Tiny.Tests.Integration.Run;

/// <summary>What a process sees from inside a `tiny run` container.</summary>
public class IsolationTests
{
    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    [Test]
    public async Task The_command_is_pid_1_and_ps_shows_only_the_container()
    {
        var result = await Tiny.Sh("echo $$; ps -o pid,comm | tail -n +2");
        await Assert.That(result.ExitCode).IsEqualTo(0);
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Assert.That(lines[0]).IsEqualTo("1");
        // sh itself (pid 1), ps, and tail: nothing of the host.
        var pids = lines.Skip(1).Select(l => int.Parse(l.Trim().Split(' ')[0])).ToArray();
        await Assert.That(pids.Length).IsLessThanOrEqualTo(3);
        await Assert.That(pids.Max()).IsLessThan(10);
    }

    [Test]
    public async Task Hostname_is_the_containers()
    {
        var result = await Tiny.Sh("hostname; cat /proc/sys/kernel/hostname", "--hostname", "boxy");
        await Assert.That(result.Stdout).IsEqualTo("boxy\nboxy\n");
        var byName = await Tiny.Sh("hostname", "--name", "named-box");
        await Assert.That(byName.Stdout.Trim()).IsEqualTo("named-box");
    }

    [Test]
    [Arguments("none")]
    [Arguments("host")]
    public async Task The_ipc_and_uts_namespaces_are_new_with_or_without_a_network_of_the_containers(string net)
    {
        // Made on tiny's thread (NamespacesAhead) in both cases, with the network namespace or without one.
        var result = await Tiny.Sh("for ns in ipc uts net; do readlink /proc/self/ns/$ns; done; hostname", "--net", net, "--hostname", "inner");
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(lines[0]).StartsWith("ipc:[").And.IsNotEqualTo(new FileInfo("/proc/self/ns/ipc").LinkTarget!);
        await Assert.That(lines[1]).StartsWith("uts:[").And.IsNotEqualTo(new FileInfo("/proc/self/ns/uts").LinkTarget!);
        var hostNetwork = new FileInfo("/proc/self/ns/net").LinkTarget!;
        if (net == "host") await Assert.That(lines[2]).IsEqualTo(hostNetwork);
        else await Assert.That(lines[2]).IsNotEqualTo(hostNetwork);
        await Assert.That(lines[3]).IsEqualTo("inner");
        await Assert.That(Environment.MachineName).IsNotEqualTo("inner");
    }

    [Test]
    public async Task The_network_namespace_is_new_and_its_sysfs_shows_only_lo_up()
    {
        // tiny makes this namespace on a thread (NamespacesAhead), brings lo up there, and the child receives and
        // enters it first: /sys, mounted after that, must show the container's links, not the host's.
        var result = await Tiny.Sh("readlink /proc/self/ns/net; ls /sys/class/net; cat /sys/class/net/lo/flags", "--net", "none");
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(lines[0]).StartsWith("net:[").And.IsNotEqualTo(new FileInfo("/proc/self/ns/net").LinkTarget!);
        await Assert.That(lines[1..]).IsEquivalentTo(["lo", "0x9"], CollectionOrdering.Matching); // IFF_UP | IFF_LOOPBACK
    }

    [Test]
    public async Task Capabilities_are_dockers_default_set_and_no_new_privs_is_on()
    {
        var result = await Tiny.Sh("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status");
        var status = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());
        // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
        // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
        const string dockerDefault = "00000000a80425fb";
        await Assert.That(status["CapEff"]).IsEqualTo(dockerDefault);
        await Assert.That(status["CapPrm"]).IsEqualTo(dockerDefault);
        await Assert.That(status["CapBnd"]).IsEqualTo(dockerDefault);
        await Assert.That(status["CapInh"]).IsEqualTo(dockerDefault);
        await Assert.That(status["CapAmb"]).IsEqualTo("0000000000000000");
        await Assert.That(status["NoNewPrivs"]).IsEqualTo("1");
    }

    [Test]
    public async Task Cap_add_and_cap_drop_change_the_set()
    {
        var result = await Tiny.Sh("grep CapEff /proc/self/status", "--cap-add", "NET_ADMIN", "--cap-drop", "CAP_CHOWN", "--cap-drop", "mknod");
        // default + NET_ADMIN (bit 12) - CHOWN (bit 0) - MKNOD (bit 27)
        await Assert.That(result.Stdout.Split(':')[1].Trim()).IsEqualTo($"{0xa80425fbUL + (1UL << 12) - 1 - (1UL << 27):x16}");
    }

    [Test]
    public async Task Cap_add_all_gives_every_capability_tiny_itself_may_hold()
    {
        var result = await Tiny.Sh("grep -E '^Cap(Eff|Bnd)' /proc/self/status", "--cap-add", "ALL");
        var bounding = File.ReadLines("/proc/self/status").Single(l => l.StartsWith("CapBnd:")).Split(':')[1].Trim();
        await Assert.That(result.Stdout).IsEqualTo($"CapEff:\t{bounding}\nCapBnd:\t{bounding}\n");
    }

    [Test]
    public async Task Masked_paths_read_empty_and_proc_sys_is_read_only()
    {
        var result = await Tiny.Sh("cat /proc/keys /proc/timer_list /proc/sched_debug 2>/dev/null | wc -c; ls -A /sys/firmware /proc/scsi /proc/acpi 2>/dev/null | grep -v : | grep -c . ; echo x > /proc/sys/kernel/domainname && echo writable; grep ' /proc/sys ' /proc/self/mountinfo");
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Assert.That(lines[0].Trim()).IsEqualTo("0");
        await Assert.That(lines[1].Trim()).IsEqualTo("0");
        await Assert.That(result.Stdout).DoesNotContain("writable");
        await Assert.That(result.Stderr).Contains("Read-only file system");
        await Assert.That(lines[2]).Contains(" ro,");
    }

    [Test]
    public async Task Dev_has_the_standard_nodes_and_a_private_devpts()
    {
        var result = await Tiny.Sh("ls /dev | sort | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; awk '$5 ~ /^\\/dev\\/(pts|shm|mqueue)$/ { for (i = 7; i <= NF; i++) if ($i == \"-\") printf \"%s %s \", $5, $(i + 1) }' /proc/self/mountinfo");
        var lines = result.Stdout.Split('\n');
        foreach (var node in new[] { "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd", "stdin", "stdout", "stderr" })
            await Assert.That(lines[0].Split(' ')).Contains(node);
        await Assert.That(lines[1].Trim()).IsEqualTo("4");
        await Assert.That(lines[2]).Contains("/dev/pts devpts").And.Contains("/dev/shm tmpfs").And.Contains("/dev/mqueue mqueue");
    }

    [Test]
    public async Task Readonly_refuses_writes_to_the_rootfs()
    {
        var ro = await Tiny.Sh("touch /tiny-ro-probe", "--readonly");
        await Assert.That(ro.ExitCode).IsNotEqualTo(0);
        await Assert.That(ro.Stderr).Contains("Read-only file system");

        var rw = await Tiny.Sh("touch /tiny-rw-probe && echo wrote");
        await Assert.That(rw.Stdout.Trim()).IsEqualTo("wrote");
        var probe = Path.Combine(BusyboxRootfs.Path, "tiny-rw-probe");
        await Assert.That(File.Exists(probe)).IsTrue();
        File.Delete(probe);
    }

    [Test]
    public async Task The_hosts_root_is_the_default_rootfs_and_read_only()
    {
        var result = await Tiny.Run("run", "--", "/bin/sh", "-c", "test -d /usr && echo has-usr; touch /tiny-host-probe 2>/dev/null || echo refused; echo $$");
        await Assert.That(result.Stdout).IsEqualTo("has-usr\nrefused\n1\n");
        await Assert.That(File.Exists("/tiny-host-probe")).IsFalse();
    }

    [Test]
    public async Task Net_none_is_a_new_namespace_with_only_lo_up_and_net_host_the_hosts()
    {
        var none = await Tiny.Sh("ls /sys/class/net | tr '\\n' ' '; cat /sys/class/net/lo/operstate; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok", "--net", "none");
        await Assert.That(none.Stdout).IsEqualTo("lo unknown\nping-ok\n");
        // Other tests add and remove tiny* links meanwhile: compare the host's lasting ones.
        var host = await Tiny.Sh("ls /sys/class/net", "--net", "host");
        var seen = host.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var link in Directory.GetDirectories("/sys/class/net").Select(Path.GetFileName).Where(n => !n!.StartsWith("tiny")))
            await Assert.That(seen).Contains(link!);
        await Assert.That(seen.Length).IsGreaterThan(1);
    }

    [Test]
    public async Task User_env_and_workdir_are_applied()
    {
        var result = await Tiny.Sh("id -u; id -g; pwd; echo $GREETING $HOME",
            "--user", "65534:65534", "--env", "GREETING=hi", "-e", "UNSET_ON_HOST_XYZ", "--workdir", "/tmp");
        await Assert.That(result.Stdout).IsEqualTo("65534\n65534\n/tmp\nhi /nonexistent\n");
        var named = await Tiny.Sh("id", "--user", "nobody");
        // tiny resolved the name from the rootfs's /etc/passwd, which busybox's id reads back.
        await Assert.That(named.Stdout).StartsWith("uid=65534(nobody) gid=65534(nogroup)");
    }

    [Test]
    public async Task The_container_is_in_its_own_cgroup_namespace()
    {
        var result = await Tiny.Sh("grep -E '^[0-9]+:(memory|pids):' /proc/self/cgroup");
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await Assert.That(lines.Length).IsEqualTo(2);
        foreach (var line in lines) await Assert.That(line).EndsWith(":/");
    }

    [Test]
    public async Task The_default_seccomp_filter_is_loaded_and_refuses_what_docker_refuses()
    {
        var result = await Tiny.Sh("grep '^Seccomp:' /proc/self/status; unshare -n true 2>&1 | grep -c 'Operation not permitted'; ls / >/dev/null && echo ls-ok", "--cap-add", "SYS_ADMIN");
        await Assert.That(result.Stdout).IsEqualTo("Seccomp:\t2\n0\nls-ok\n");
        var confined = await Tiny.Sh("grep '^Seccomp:' /proc/self/status; unshare -n true 2>&1 | grep -c 'Operation not permitted'");
        await Assert.That(confined.Stdout).IsEqualTo("Seccomp:\t2\n1\n");
        var unconfined = await Tiny.Sh("grep '^Seccomp:' /proc/self/status", "--seccomp", "unconfined");
        await Assert.That(unconfined.Stdout).IsEqualTo("Seccomp:\t0\n");
    }
}
