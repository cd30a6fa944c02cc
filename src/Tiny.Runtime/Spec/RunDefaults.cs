namespace Tiny.Runtime.Spec;

public static class RunDefaults
{
    /// <summary>The PATH Docker gives a container whose image sets none.</summary>
    public const string Path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}
