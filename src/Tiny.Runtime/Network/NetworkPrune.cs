using Microsoft.Extensions.Logging;
using Tiny.Interop;

namespace Tiny.Runtime.Network;

/// <summary>What `tiny network prune` did: the bridge and table it removed, or the containers that
/// still use them.</summary>
public sealed record PruneResult(bool RemovedBridge, bool RemovedTable, IReadOnlyList<string> UsedBy);

public static class NetworkPrune
{
    /// <summary>Reclaims what dead containers left, then, when no live container has a lease, deletes
    /// the bridge, the nf_tables table and the recorded subnet.</summary>
    public static PruneResult Run(ILogger log, NetworkSettings? settings = null)
    {
        settings ??= NetworkSettings.Default;
        if (!Directory.Exists(settings.StateDirectory)) Directory.CreateDirectory(settings.StateDirectory);
        using var route = NetlinkSocket.OpenRoute();
        using var netfilter = NetlinkSocket.OpenNetfilter();
        var nat = new NatTable(settings.Table, settings.Bridge);
        var lockFd = FileLock.Acquire(settings.LockFile);
        try
        {
            var leases = Lease.ReadAll(settings.LeaseFile);
            ContainerNetwork.ReclaimDead(leases, route, netfilter, nat, settings, log);
            if (leases.Count > 0) return new(false, false, [.. leases.Select(l => l.ContainerId)]);
            var removedBridge = HostLinks.Delete(route, settings.Bridge);
            var removedTable = nat.Delete(netfilter);
            File.Delete(settings.SubnetFile);
            File.Delete(settings.LeaseFile);
            return new(removedBridge, removedTable, []);
        }
        finally
        {
            FileLock.Release(lockFd);
        }
    }
}
