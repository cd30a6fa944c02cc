namespace Tiny.Runtime;

/// <summary>
/// A failure tiny reports to the user as one line (<c>tiny: MESSAGE</c>) and exits with
/// <see cref="ExitCode"/>: 125 for tiny's own failures, 126 when the command cannot be executed,
/// 127 when it is not found (the codes Docker and runc use).
/// </summary>
public sealed class ContainerError(string message, int exitCode = ContainerError.RuntimeFailure) : Exception(message)
{
    public const int RuntimeFailure = 125;
    public const int NotExecutable = 126;
    public const int NotFound = 127;

    public int ExitCode { get; } = exitCode;
}
