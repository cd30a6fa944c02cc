using Tiny.Runtime.Network;

namespace Tiny;

internal sealed class NetworkCommands
{
    /// <summary>Remove the bridge tiny0 and the nf_tables table `ip tiny` when no container uses them.</summary>
    /// <param name="verbose">-v, Log each step to stderr.</param>
    public int Prune(bool verbose = false)
    {
        using var logging = Logging.Create(verbose);
        var settings = NetworkSettings.Default;
        var result = NetworkPrune.Run(logging.CreateLogger("tiny"), settings);
        if (result.UsedBy.Count > 0)
            Console.WriteLine($"kept bridge {settings.Bridge} and table ip {settings.Table}: in use by {string.Join(", ", result.UsedBy)}");
        else
        {
            Console.WriteLine(result.RemovedBridge ? $"removed bridge {settings.Bridge}" : $"no bridge {settings.Bridge}");
            Console.WriteLine(result.RemovedTable ? $"removed table ip {settings.Table}" : $"no table ip {settings.Table}");
        }
        return 0;
    }
}
