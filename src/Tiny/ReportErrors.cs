using ConsoleAppFramework;
using Tiny.Interop;
using Tiny.Runtime;

namespace Tiny;

/// <summary>Every failure ends as one line on stderr, <c>tiny: ...</c>, and a distinct exit code; never a stack trace.</summary>
internal sealed class ReportErrors(ConsoleAppFilter next) : ConsoleAppFilter(next)
{
    static bool _usageError;

    public override async Task InvokeAsync(ConsoleAppContext context, CancellationToken cancellationToken)
    {
        try
        {
            await Next.InvokeAsync(context, cancellationToken);
        }
        catch (ContainerError e)
        {
            Fail(e.Message, e.ExitCode);
        }
        catch (SyscallException e)
        {
            Fail(e.Message, ContainerError.RuntimeFailure);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Fail(e.Message, ContainerError.RuntimeFailure);
        }
    }

    static void Fail(string message, int exitCode)
    {
        Console.Error.WriteLine($"tiny: {message}");
        Environment.ExitCode = exitCode;
    }

    /// <summary>ConsoleAppFramework reports bad arguments here (exit 1 by its convention); tiny uses 125 as Docker does.</summary>
    public static void UsageError(string message)
    {
        _usageError = true;
        Console.Error.WriteLine($"tiny: {message}");
    }

    public static int ExitCode() => _usageError ? ContainerError.RuntimeFailure : Environment.ExitCode;
}
