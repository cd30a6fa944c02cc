using System.Diagnostics;
using Tiny.Runtime.Network;

namespace Tiny.Tests.Integration.Network;

/// <summary>`tiny run --net bridge` (the default as root) end to end, on the real tiny0 bridge and
/// `ip tiny` table. Every packet stays on this machine: the bridge, the containers and loopback.
/// The session hook in <see cref="HostStateCleanup"/> prunes tiny0 if these tests made it.</summary>
public class BridgeRunTests
{
    const string LeaseFile = "/run/tiny/net/leases";
    const string GatewayOf = "$(ip route | awk '/default/{print $3}')";

    [Before(Test)]
    public void Require() => Tiny.RequireRootAndBinary();

    static bool HasLease(string name) => Lease.ReadAll(LeaseFile).Any(l => l.ContainerId == name);

    static string Rules() => TestNetwork.Tool("nft", "list", "table", "ip", "tiny").Output;

    static string HostLinkOf(string name) => "tiny" + new string(name.Where(char.IsAsciiLetterOrDigit).Take(10).ToArray());

    /// <summary>The kernel deletes a veth pair with its namespace, in a work item after the last process left.</summary>
    static async Task<bool> LinkGoes(string link)
    {
        for (var waited = 0; waited < 10_000; waited += 20)
        {
            if (!Directory.Exists($"/sys/class/net/{link}")) return true;
            await Task.Delay(20);
        }
        return false;
    }

    static async Task AssertNothingLeftOf(string name)
    {
        await Assert.That(HasLease(name)).IsFalse();
        await Assert.That(Rules()).DoesNotContain($"\"{name}\"");
        await Assert.That(Directory.Exists($"/run/tiny/net/containers/{name}")).IsFalse();
        await Assert.That(await LinkGoes(HostLinkOf(name))).IsTrue();
    }

    /// <summary>Starts a container that prints its address, then <paramref name="script"/>'s output, and
    /// runs until tiny gets SIGTERM.</summary>
    static Process StartServing(string name, string[] options, string script) =>
        Tiny.Start(Tiny.Binary, ["run", "--rootfs", BusyboxRootfs.Path, "--name", name, .. options, "--", "/bin/sh", "-c",
            $"hostname -i; {script}; trap 'exit 0' TERM; sleep 60 & wait"]);

    static async Task Stop(Process tiny)
    {
        Interop.Process.Kill(tiny.Id, Interop.Process.SIGTERM);
        await tiny.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Test]
    public async Task A_container_gets_eth0_on_tiny0_its_etc_files_and_pings_the_gateway()
    {
        var name = Tiny.UniqueName("ping");
        var result = await Tiny.Sh(
            $"ip -4 -o addr show eth0 | awk '{{print $4}}'; echo {GatewayOf}; cat /etc/hostname; grep -c \"^$(hostname -i)\t{name}$\" /etc/hosts; " +
            $"cat /sys/class/net/eth0/mtu; ping -c1 -W2 {GatewayOf} >/dev/null && echo ping-ok", "--name", name);
        var lines = result.Stdout.Split('\n');
        await Assert.That(result.ExitCode).IsEqualTo(0);
        var subnet = Ipv4Subnet.Parse(File.ReadAllText("/run/tiny/net/subnet").Trim(), "subnet");
        await Assert.That(lines[0]).EndsWith($"/{subnet.PrefixLength}");
        await Assert.That(subnet.Contains(System.Net.IPAddress.Parse(lines[0].Split('/')[0]))).IsTrue();
        await Assert.That(lines[1]).IsEqualTo(subnet.Gateway.ToString());
        await Assert.That(lines[2..]).IsEquivalentTo([name, "1", File.ReadAllText("/sys/class/net/tiny0/mtu").Trim(), "ping-ok", ""], CollectionOrdering.Matching);
        await AssertNothingLeftOf(name);
    }

    [Test]
    public async Task Two_containers_ping_each_other_by_address()
    {
        var name = Tiny.UniqueName("peer");
        using var first = StartServing(name, [], "true");
        var address = await first.StandardOutput.ReadLineAsync();
        var second = await Tiny.Sh($"ping -c1 -W2 {address} >/dev/null && echo reached");
        await Assert.That(second.Stdout).IsEqualTo("reached\n");
        await Stop(first);
        await Assert.That(first.ExitCode).IsEqualTo(0);
        await AssertNothingLeftOf(name);
    }

    [Test]
    public async Task A_published_port_answers_on_localhost_and_the_gateway_while_its_rules_are_in_the_table()
    {
        var name = Tiny.UniqueName("web");
        using var web = StartServing(name, ["-p", "18080:80"],
            $"echo {GatewayOf}; mkdir -p /tmp/{name}; echo hello-from-{name} > /tmp/{name}/index.html; httpd -p 80 -h /tmp/{name}");
        var address = await web.StandardOutput.ReadLineAsync();
        var gateway = await web.StandardOutput.ReadLineAsync();
        try
        {
            var subnet = File.ReadAllText("/run/tiny/net/subnet").Trim();
            await Assert.That(Rules()).Contains($"dnat to {address}:80 comment \"{name}\"")
                .And.Contains($"ip saddr {subnet} oifname != \"tiny0\" masquerade comment \"masquerade {subnet}\"");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            foreach (var host in new[] { "127.0.0.1", gateway })
                await Assert.That(await Fetch(http, $"http://{host}:18080/")).IsEqualTo($"hello-from-{name}\n");
        }
        finally
        {
            await Stop(web);
            Directory.Delete(Path.Combine(BusyboxRootfs.Path, "tmp", name), recursive: true);
        }
        await AssertNothingLeftOf(name);
    }

    /// <summary>GET with retries while httpd, started in the background, begins to listen.</summary>
    static async Task<string> Fetch(HttpClient http, string url)
    {
        for (var attempt = 0; ; attempt++)
        {
            try { return await http.GetStringAsync(url); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && attempt < 50) { await Task.Delay(100); }
        }
    }

    [Test]
    public async Task Twenty_parallel_runs_get_distinct_addresses_and_all_reach_the_gateway()
    {
        // Each container waits until all twenty have their address, so all leases are held at once.
        var barrier = Tiny.UniqueName("barrier");
        var hostBarrier = Directory.CreateDirectory(Path.Combine(BusyboxRootfs.Path, "tmp", barrier)).FullName;
        try
        {
            var runs = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Tiny.Sh(
                $"hostname -i; touch /tmp/{barrier}/$(hostname); until [ $(ls /tmp/{barrier} | wc -l) -ge 20 ]; do sleep 0.05; done; " +
                $"ping -c1 -W2 {GatewayOf} >/dev/null && echo ok")));
            foreach (var run in runs)
            {
                await Assert.That(run.Stderr).IsEmpty();
                await Assert.That(run.ExitCode).IsEqualTo(0);
                await Assert.That(run.Stdout).EndsWith("\nok\n");
            }
            await Assert.That(runs.Select(r => r.Stdout.Split('\n')[0]).Distinct().Count()).IsEqualTo(20);
        }
        finally
        {
            Directory.Delete(hostBarrier, recursive: true);
        }
    }

    [Test]
    public async Task A_run_killed_with_sigkill_is_cleaned_up_by_the_next_run()
    {
        var name = Tiny.UniqueName("killed");
        using var killed = StartServing(name, ["-p", "18081:80"], "true");
        await killed.StandardOutput.ReadLineAsync();
        await Assert.That(HasLease(name)).IsTrue();
        killed.Kill();
        await killed.WaitForExitAsync();
        try
        {
            // Its lease, DNAT rules and files stay until a run (this one, or any other test's that runs
            // meanwhile) reclaims what dead owners left.
            var next = await Tiny.Sh("true");
            await Assert.That(next.ExitCode).IsEqualTo(0);
            await AssertNothingLeftOf(name);
        }
        finally
        {
            // The cgroup and state of a tiny killed with SIGKILL stay until tiny rm -f.
            var rm = await Tiny.Run("rm", "-f", name);
            await Assert.That(rm.ExitCode).IsEqualTo(0);
            await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
            await Assert.That(Directory.Exists($"/run/tiny/{name}")).IsFalse();
        }
    }

    [Test]
    [Arguments("--subnet", "10.1.0.0/33", "invalid --subnet 10.1.0.0/33: want an IPv4 CIDR such as 10.88.0.0/16 (prefix 8 to 30)")]
    [Arguments("--ip", "nope", "invalid --ip nope: not an IPv4 address")]
    [Arguments("-p", "80", "invalid publish 80: want [HOSTIP:]HOSTPORT:PORT[/tcp|udp]")]
    [Arguments("-p", "99999:80", "invalid publish 99999:80: 99999 is not a port (1-65535)")]
    [Arguments("-p", "8080:80/sctp", "invalid publish 8080:80/sctp: the protocol must be tcp or udp")]
    [Arguments("-p", "192.0.2.254:8080:80", "publish 192.0.2.254:8080:80/tcp: 192.0.2.254 is not an address of this host")]
    public async Task A_bad_network_option_is_named_and_leaves_nothing(string option, string value, string message)
    {
        var name = Tiny.UniqueName("badnet");
        var result = await Tiny.RunInBusybox(["--name", name, option, value], "true");
        await Assert.That(result.ExitCode).IsEqualTo(125);
        await Assert.That(result.Stderr).IsEqualTo($"tiny: {message}\n");
        await Assert.That(Directory.Exists($"/sys/class/net/{HostLinkOf(name)}")).IsFalse();
        await AssertNothingLeftOf(name);
        await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
    }

    [Test]
    public async Task A_mount_that_fails_while_the_parent_attaches_the_network_is_the_error_and_leaves_nothing()
    {
        // The child makes its mounts while the parent makes its cgroup and attaches eth0: it may be gone before
        // the attach ends, and the mount is still what is reported.
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var name = Tiny.UniqueName("badmount");
            var result = await Tiny.RunInBusybox(["--name", name, "-p", "18083:80", "-v", "/etc/passwd:/bin"], "true");
            await Assert.That(result.Stderr).IsEqualTo("tiny: mount /etc/passwd on /bin: not a directory\n");
            await Assert.That(result.ExitCode).IsEqualTo(125);
            await AssertNothingLeftOf(name);
            await Assert.That(Tiny.CgroupDirectoriesOf(name)).IsEmpty();
        }
    }

    [Test]
    public async Task A_taken_address_an_address_outside_the_subnet_and_a_busy_port_are_refused()
    {
        var holder = Tiny.UniqueName("holder");
        using var running = StartServing(holder, ["-p", "18082:80"], "true");
        var address = await running.StandardOutput.ReadLineAsync();
        try
        {
            var subnet = File.ReadAllText("/run/tiny/net/subnet").Trim();
            var cases = new (string[] Options, string Message)[]
            {
                (["--ip", address!], $"invalid --ip {address}: taken by container {holder}"),
                (["--ip", "192.0.2.77"], $"invalid --ip 192.0.2.77: not a container address of tiny0's subnet {subnet}"),
                (["-p", "18082:81"], $"publish 18082:81/tcp: host port 18082/tcp is already published by container {holder}"),
            };
            foreach (var (options, message) in cases)
            {
                var name = Tiny.UniqueName("refused");
                var result = await Tiny.RunInBusybox(["--name", name, .. options], "true");
                await Assert.That(result.ExitCode).IsEqualTo(125);
                await Assert.That(result.Stderr).IsEqualTo($"tiny: {message}\n");
                await AssertNothingLeftOf(name);
            }
        }
        finally
        {
            await Stop(running);
        }
        await AssertNothingLeftOf(holder);
    }
}

/// <summary>Removes what tiny keeps between containers when this test session made it: bridge tiny0 and the
/// `ip tiny` table (they outlive containers by design, as Docker's bridge does), and the state directories of
/// address and ID-range leases once no lease is held.</summary>
public static class HostStateCleanup
{
    const string State = "/run/tiny";
    static bool bridgeBefore, userNamespacesBefore, stateBefore;

    [Before(TestSession)]
    public static void Note()
    {
        bridgeBefore = Directory.Exists("/sys/class/net/tiny0");
        userNamespacesBefore = Directory.Exists($"{State}/userns");
        stateBefore = Directory.Exists(State);
    }

    [After(TestSession)]
    public static async Task Clean()
    {
        if (!Tiny.IsRoot || !File.Exists(Tiny.Binary)) return;
        if (!bridgeBefore)
        {
            await Tiny.Run("network", "prune");
            // Pruned (no lease file left): what remains of the state directory is its lock file.
            if (!File.Exists($"{State}/net/leases") && Directory.Exists($"{State}/net")) Directory.Delete($"{State}/net", recursive: true);
        }
        if (!userNamespacesBefore && Directory.Exists($"{State}/userns") && new FileInfo($"{State}/userns/leases") is { Exists: false } or { Length: 0 })
            Directory.Delete($"{State}/userns", recursive: true);
        if (stateBefore) return;
        // A detached container's monitor may still be removing its own state as the session ends (an empty /run/tiny
        // was left after one CI run in eight); what is still there after 5 s is a leftover for the before-stop check.
        for (var i = 0; i < 50 && Directory.Exists(State) && Directory.EnumerateFileSystemEntries(State).Any(); i++) await Task.Delay(100);
        if (Directory.Exists(State) && !Directory.EnumerateFileSystemEntries(State).Any()) Directory.Delete(State);
    }
}
