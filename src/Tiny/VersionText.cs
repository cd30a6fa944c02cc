using Tiny.Runtime.Spec;

namespace ConsoleAppFramework;

internal static partial class ConsoleApp
{
    /// <summary>
    /// What <c>tiny --version</c> prints, as runc does: the release (ConsoleAppFramework's DefaultVersion, generated
    /// from the project's Version), then the OCI runtime-spec version.
    /// </summary>
    public const string TinyVersion = $"tiny version {Release}\nspec: {RuntimeSpec.Version}";

    public const string Release = DefaultVersion;
}
