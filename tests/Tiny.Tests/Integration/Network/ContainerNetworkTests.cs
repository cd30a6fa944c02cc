using Tiny.Runtime;
using Tiny.Runtime.Network;

namespace Tiny.Tests.Integration.Network;

/// <summary>The bridge network against real namespaces (root). Every packet stays on this machine:
/// the test's bridge, its namespaces and loopback.</summary>
public class ContainerNetworkTests
{
    [Before(Test)]
    public void RequireRoot() => Skip.Unless(TestNetwork.IsRoot, "network integration tests create bridges and need root");

    [Test]
    public async Task Attached_container_has_eth0_default_route_and_pings_the_gateway()
    {
        using var test = new TestNetwork();
        var pid = test.StartInNewNamespace("sleep", "60");
        var network = test.Prepare(test.Request());
        network.Attach(pid);

        await Assert.That(TestNetwork.Tool("ip", "-o", "link", "show", "master", test.Settings.Bridge).Output).Contains(network.HostLink);
        await Assert.That(TestNetwork.InNamespace(pid, "ip", "-o", "-4", "addr", "show", "eth0").Output)
            .Contains($"inet {network.Address}/24");
        await Assert.That(TestNetwork.InNamespace(pid, "ip", "-4", "route").Output).Contains($"default via {network.Gateway} dev eth0");
        await Assert.That(TestNetwork.InNamespace(pid, "ip", "-o", "link", "show", "lo").Output).Contains("UP");
        await Assert.That(TestNetwork.Pings(pid, network.Gateway.ToString())).IsTrue();
        await Assert.That(test.Rules()).Contains($"ip saddr {test.Subnet} oifname != \"{test.Settings.Bridge}\" masquerade comment \"masquerade {test.Subnet}\"");
        await Assert.That(File.ReadAllText(network.FileMounts[0].Source!)).Contains($"{network.Address}\tbox");

        network.Dispose();
        await Assert.That(test.Links()).DoesNotContain(network.HostLink);
        await Assert.That(test.Rules()).DoesNotContain(network.ContainerId);
        await Assert.That(test.Leases()).IsEmpty();
        await Assert.That(Directory.Exists(Path.GetDirectoryName(network.FileMounts[0].Source!))).IsFalse();
    }

    [Test]
    public async Task Veth_of_an_exited_container_goes_with_its_namespace()
    {
        using var test = new TestNetwork();
        var pid = test.StartInNewNamespace("sleep", "60");
        var network = test.Prepare(test.Request());
        network.Attach(pid);
        TestNetwork.Tool("kill", "-9", pid.ToString());
        while (LeaseOwner.Of(pid) is { IsRunning: true }) Thread.Sleep(1);

        network.Dispose();
        await Assert.That(test.Leases()).IsEmpty();
        await Assert.That(test.Rules()).DoesNotContain(network.ContainerId);
        // The namespace's teardown (a kernel work item) deletes the pair after the last process left.
        for (var waited = 0; waited < 10_000 && test.Links().Contains(network.HostLink); waited += 10) Thread.Sleep(10);
        await Assert.That(test.Links()).DoesNotContain(network.HostLink);
    }

    [Test]
    public async Task Two_containers_ping_each_other()
    {
        using var test = new TestNetwork();
        var (first, second) = (test.StartInNewNamespace("sleep", "60"), test.StartInNewNamespace("sleep", "60"));
        var a = test.Prepare(test.Request());
        var b = test.Prepare(test.Request());
        a.Attach(first);
        b.Attach(second);
        await Assert.That(a.Address).IsNotEqualTo(b.Address);
        await Assert.That(TestNetwork.Pings(first, b.Address.ToString())).IsTrue();
        await Assert.That(TestNetwork.Pings(second, a.Address.ToString())).IsTrue();
    }

    [Test]
    public async Task Twenty_parallel_containers_get_distinct_addresses_and_reach_the_gateway()
    {
        using var test = new TestNetwork();
        var pids = Enumerable.Range(0, 20).Select(_ => test.StartInNewNamespace("sleep", "60")).ToArray();
        var networks = await Task.WhenAll(pids.Select(pid => Task.Run(() =>
        {
            var network = test.Prepare(test.Request());
            network.Attach(pid);
            return network;
        })));
        await Assert.That(networks.Select(n => n.Address).Distinct().Count()).IsEqualTo(20);
        await Assert.That(test.Leases().Count).IsEqualTo(20);
        foreach (var pid in pids) await Assert.That(TestNetwork.Pings(pid, networks[0].Gateway.ToString())).IsTrue();
    }

    [Test]
    public async Task Lease_of_a_killed_owner_is_reclaimed_with_its_veth_and_rules()
    {
        using var test = new TestNetwork();
        var owner = test.StartInNewNamespace("sleep", "60");
        var container = test.StartInNewNamespace("sleep", "60");
        var dead = test.Prepare(test.Request(null, "18181:80"), LeaseOwner.Of(owner));
        dead.Attach(container);
        TestNetwork.Tool("kill", "-9", owner.ToString());
        while (LeaseOwner.Of(owner) is { IsRunning: true }) Thread.Sleep(1);
        await Assert.That(test.Rules()).Contains(dead.ContainerId);

        var next = test.Prepare(test.Request(null, "18181:80"));

        await Assert.That(string.Join(",", test.Leases().Select(l => l.ContainerId))).IsEqualTo(next.ContainerId);
        await Assert.That(test.Links()).DoesNotContain(dead.HostLink);
        await Assert.That(test.Rules()).DoesNotContain(dead.ContainerId);
        await Assert.That(next.Address).IsEqualTo(dead.Address);
    }

    [Test]
    public async Task Published_port_answers_on_loopback_and_on_the_gateway()
    {
        using var test = new TestNetwork();
        var site = Directory.CreateTempSubdirectory("tiny-net-test-www");
        try
        {
            File.WriteAllText(Path.Combine(site.FullName, "index.html"), "hello from the container\n");
            var pid = test.StartInNewNamespace("busybox", "httpd", "-f", "-p", "80", "-h", site.FullName);
            var hostPort = Random.Shared.Next(20000, 30000);
            var network = test.Prepare(test.Request(null, $"{hostPort}:80"));
            network.Attach(pid);
            await Assert.That(test.Rules()).Contains($"tcp dport {hostPort} dnat to {network.Address}:80");

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            await Assert.That(await http.GetStringAsync($"http://127.0.0.1:{hostPort}/")).IsEqualTo("hello from the container\n");
            await Assert.That(await http.GetStringAsync($"http://{network.Gateway}:{hostPort}/")).IsEqualTo("hello from the container\n");

            network.Dispose();
            await Assert.That(test.Rules()).DoesNotContain(network.ContainerId);
            await Assert.That(async () => await http.GetStringAsync($"http://127.0.0.1:{hostPort}/")).Throws<HttpRequestException>();
        }
        finally
        {
            site.Delete(recursive: true);
        }
    }

    [Test]
    [Arguments("10.250.0.0/33", null, "80:80", "invalid --subnet 10.250.0.0/33")]
    [Arguments(null, "10.9.9.9", "80:80", "invalid --ip 10.9.9.9")]
    [Arguments(null, "nonsense", "80:80", "invalid --ip nonsense")]
    [Arguments(null, null, "80:80/sctp", "invalid publish 80:80/sctp")]
    [Arguments(null, null, "70000:80", "invalid publish 70000:80")]
    public async Task Bad_request_is_one_error_and_leaves_nothing(string? subnet, string? ip, string publish, string message)
    {
        using var test = new TestNetwork();
        var request = test.Request(ip, publish) with { Subnet = subnet ?? test.Subnet };
        var error = await Assert.That(() => test.Prepare(request)).Throws<ContainerError>();
        await Assert.That(error!.Message).StartsWith(message);
        await Assert.That(error.ExitCode).IsEqualTo(125);
        await Assert.That(test.Links()).DoesNotContain(test.Settings.Bridge);
        await Assert.That(TestNetwork.Tool("nft", "list", "tables").Output).DoesNotContain(test.Settings.Table);
        await Assert.That(test.Leases()).IsEmpty();
    }

    [Test]
    public async Task Taken_ip_and_busy_port_are_errors_that_leave_nothing()
    {
        using var test = new TestNetwork();
        var first = test.Prepare(test.Request(null, "18282:80", "5353:53/udp"));
        var rules = test.Rules();

        var takenIp = await Assert.That(() => test.Prepare(test.Request(first.Address.ToString()))).Throws<ContainerError>();
        await Assert.That(takenIp!.Message).IsEqualTo($"invalid --ip {first.Address}: taken by container {first.ContainerId}");
        var busy = await Assert.That(() => test.Prepare(test.Request(null, "127.0.0.1:18282:8080"))).Throws<ContainerError>();
        await Assert.That(busy!.Message).Contains($"host port 18282/tcp is already published by container {first.ContainerId}");

        await Assert.That(test.Leases().Count).IsEqualTo(1);
        await Assert.That(test.Rules()).IsEqualTo(rules);
        // The same port over the other protocol is free.
        test.Prepare(test.Request(null, "18282:80/udp"));
        await Assert.That(test.Leases().Count).IsEqualTo(2);
    }

    [Test]
    public async Task Prune_keeps_a_network_in_use_and_removes_an_unused_one()
    {
        using var test = new TestNetwork();
        var network = test.Prepare(test.Request());
        var kept = NetworkPrune.Run(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, test.Settings);
        await Assert.That(string.Join(",", kept.UsedBy)).IsEqualTo(network.ContainerId);
        await Assert.That(test.Links()).Contains(test.Settings.Bridge);

        network.Dispose();
        var pruned = NetworkPrune.Run(Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, test.Settings);
        await Assert.That(pruned.RemovedBridge).IsTrue();
        await Assert.That(pruned.RemovedTable).IsTrue();
        await Assert.That(test.Links()).DoesNotContain(test.Settings.Bridge);
        await Assert.That(TestNetwork.Tool("nft", "list", "tables").Output).DoesNotContain(test.Settings.Table);
    }
}
