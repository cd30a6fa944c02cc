namespace Tiny.Runtime.Spec;

public static class RuntimeSpec
{
    /// <summary>The OCI runtime-spec release tiny implements.</summary>
    public const string Version = "1.2.0";
}
