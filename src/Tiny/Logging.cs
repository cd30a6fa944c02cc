using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ZLogger;

namespace Tiny;

/// <summary>The -v step log: timestamped lines on stderr; nothing at all (and no logging set-up cost) otherwise.</summary>
internal static class Logging
{
    public static ILoggerFactory Create(bool verbose) => !verbose
        ? NullLoggerFactory.Instance
        : LoggerFactory.Create(builder =>
        {
            builder.SetMinimumLevel(LogLevel.Debug);
            builder.AddZLoggerConsole(options =>
            {
                options.LogToStandardErrorThreshold = LogLevel.Trace;
                options.UsePlainTextFormatter(formatter => formatter.SetPrefixFormatter($"{0:yyyy-MM-ddTHH:mm:ss.ffffffZ} {1} ",
                    (in MessageTemplate template, in LogInfo info) => template.Format(info.Timestamp.Utc, LevelName(info.LogLevel))));
            });
        });

    static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO",
        LogLevel.Warning => "WARN",
        LogLevel.Error => "ERROR",
        _ => level.ToString().ToUpperInvariant(),
    };
}
