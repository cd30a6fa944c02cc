using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Tiny.Runtime.Network;

namespace Tiny.Tests.Integration.Network;

/// <summary>A bridge network of a test's own: bridge tinyt*, table tiny_test_*, a state directory
/// under /tmp and a /24 of 10.250.0.0/16, with the processes whose namespaces stand in for
/// containers. Dispose deletes all of it.</summary>
sealed class TestNetwork : IDisposable
{
    static int lastSubnet = Random.Shared.Next(0, 200);

    public NetworkSettings Settings { get; }
    public string Subnet { get; } = $"10.250.{Interlocked.Increment(ref lastSubnet) % 250}.0/24";
    readonly List<Process> processes = [];
    readonly List<ContainerNetwork> networks = [];

    public TestNetwork()
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        Settings = new NetworkSettings($"tinyt{suffix}", $"tiny_test_{suffix}", Path.Combine(Path.GetTempPath(), $"tiny-net-test-{suffix}"));
    }

    public static bool IsRoot => Environment.UserName == "root";

    public static string NewContainerId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    public NetworkRequest Request(string? ip = null, params string[] publish) =>
        new(NewContainerId(), "box", Subnet, ip, publish);

    public ContainerNetwork Prepare(NetworkRequest request, LeaseOwner? owner = null)
    {
        var network = ContainerNetwork.Prepare(request, NullLogger.Instance, Settings, owner ?? LeaseOwner.Current);
        lock (networks) networks.Add(network);
        return network;
    }

    /// <summary>Starts <paramref name="command"/> in a new network namespace (unshare(1) execs it
    /// there) and returns its pid once the namespace is its own.</summary>
    public int StartInNewNamespace(params string[] command)
    {
        var start = new ProcessStartInfo("unshare", ["--net", "--", .. command]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var process = Process.Start(start)!;
        lock (processes) processes.Add(process);
        var ours = new FileInfo("/proc/self/ns/net").LinkTarget;
        while (new FileInfo($"/proc/{process.Id}/ns/net").LinkTarget == ours)
        {
            if (process.HasExited) throw new InvalidOperationException($"unshare exited: {process.StandardError.ReadToEnd()}");
            Thread.Sleep(1);
        }
        return process.Id;
    }

    /// <summary>Runs a test tool (ip, nft, ping) and returns its exit code and output.</summary>
    public static (int ExitCode, string Output) Tool(string file, params string[] arguments)
    {
        var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result + error);
    }

    public static (int ExitCode, string Output) InNamespace(int pid, params string[] command) =>
        Tool("nsenter", ["-t", pid.ToString(), "-n", "--", .. command]);

    public static bool Pings(int pid, string address) => InNamespace(pid, "ping", "-c1", "-W2", address).ExitCode == 0;

    public string Links() => Tool("ip", "-o", "link").Output;

    public string Rules() => Tool("nft", "-a", "list", "table", "ip", Settings.Table).Output;

    public List<Lease> Leases() => Lease.ReadAll(Path.Combine(Settings.StateDirectory, "leases"));

    public void Dispose()
    {
        foreach (var network in networks) network.Dispose();
        foreach (var process in processes)
        {
            if (!process.HasExited) process.Kill();
            process.WaitForExit();
        }
        NetworkPrune.Run(NullLogger.Instance, Settings);
        Directory.Delete(Settings.StateDirectory, recursive: true);
    }
}
