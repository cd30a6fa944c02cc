using ConsoleAppFramework;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tiny.Interop;
using Tiny.Runtime;
using ZLogger;

namespace Tiny;

/// <summary>
/// Every failure ends as one line on stderr, <c>tiny: ...</c>, and a distinct exit code; never a stack trace.
/// Commands run synchronously on the main thread (no ConsoleAppFramework filter: a filter runs the command through
/// Task.Run, which starts the thread pool), so ConsoleAppFramework catches what a command throws and hands
/// <see cref="Report"/> only its text: bad arguments as the message, anything else as <c>Exception.ToString()</c>
/// (a stack trace, which is never shown: a bug is reported as its exception's type and message).
/// The exceptions thrown meanwhile are kept so that the text can be traced back to the exception it came from.
/// </summary>
internal static class ReportErrors
{
    static readonly List<Exception> Thrown = [];
    static int? _exitCode;

    /// <summary>Where errors are also logged: the OCI --log file that containerd and conmon read.</summary>
    public static ILogger ErrorLog { get; set; } = NullLogger.Instance;

    /// <summary>A detached container's monitor during set-up: the pipe on which the tiny that started it waits for
    /// "EXITCODE MESSAGE" (<see cref="DetachedRun"/>); -1 otherwise.</summary>
    public static int Channel { get; set; } = -1;

    public static void Install()
    {
        AppDomain.CurrentDomain.FirstChanceException += (_, e) => Thrown.Add(e.Exception);
        ConsoleApp.LogError = Report;
    }

    static void Report(string text)
    {
        var thrown = Thrown.LastOrDefault(e => e.ToString() == text);
        var (message, exitCode) = thrown switch
        {
            ContainerError e => (e.Message, e.ExitCode),
            SyscallException or IOException or UnauthorizedAccessException => (thrown.Message, ContainerError.RuntimeFailure),
            // A bug: still one line, naming the exception.
            not null => ($"internal error: {thrown.GetType().Name}: {thrown.Message}", ContainerError.RuntimeFailure),
            // Bad arguments: ConsoleAppFramework's own message (exit 125 as Docker does, not its 1).
            _ => (text, ContainerError.RuntimeFailure),
        };
        ErrorLog.ZLogError($"{message}");
        Console.Error.WriteLine($"tiny: {message}");
        if (Channel >= 0) FileDescriptor.TryWriteAll(Channel, System.Text.Encoding.UTF8.GetBytes($"{exitCode} {message}\n"));
        _exitCode = exitCode;
    }

    public static int ExitCode() => _exitCode ?? Environment.ExitCode;
}
