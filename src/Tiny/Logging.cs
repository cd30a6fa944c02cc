using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using System.Text.Json;
using Tiny.Runtime.Oci;
using ZLogger;
using ZLogger.Formatters;
using ZLogger.Providers;

namespace Tiny;

/// <summary>The -v step log: timestamped lines on stderr; nothing at all (and no logging set-up cost) otherwise.</summary>
internal static class Logging
{
    public static ILoggerFactory Create(bool verbose)
    {
        if (!verbose) return NullLoggerFactory.Instance;
        return Factory(LogLevel.Debug, StandardError(PlainText));
    }

    /// <summary>A console provider that writes every level to stderr, formatted by <paramref name="format"/>.</summary>
    static ZLoggerConsoleLoggerProvider StandardError(Action<ZLoggerOptions> format)
    {
        var console = new ZLoggerConsoleOptions { LogToStandardErrorThreshold = LogLevel.Trace };
        format(console);
        return new ZLoggerConsoleLoggerProvider(console);
    }

    /// <summary>A factory over one provider, made directly: LoggerFactory.Create would first build a dependency
    /// injection container for it.</summary>
    static ILoggerFactory Factory(LogLevel minimum, ILoggerProvider provider) =>
        new LoggerFactory([provider], new LoggerFilterOptions { MinLevel = minimum });

    /// <summary>
    /// The OCI commands' log, as runc keeps it: --log FILE (appended) in --log-format text or json lines
    /// {"time","level","msg"} (containerd reports the last error line's msg); without --log, stderr when --debug.
    /// Warnings and errors only, everything with --debug.
    /// </summary>
    public static ILoggerFactory CreateForOci(GlobalOptions options)
    {
        if (options.Log is null && !options.Debug) return NullLoggerFactory.Instance;
        var minimum = options.Debug ? LogLevel.Debug : LogLevel.Warning;
        if (options.Log is { } file)
        {
            var fileOptions = new ZLoggerFileOptions();
            Format(fileOptions);
            return Factory(minimum, new ZLoggerFileLoggerProvider(file, fileOptions));
        }
        return Factory(minimum, StandardError(Format));

        void Format(ZLoggerOptions zlogger)
        {
            if (options.LogFormat == "json")
            {
                zlogger.UseJsonFormatter(json =>
                {
                    json.IncludeProperties = IncludeProperties.Timestamp | IncludeProperties.LogLevel | IncludeProperties.Message;
                    json.UseUtcTimestamp = true;
                    json.JsonPropertyNames = RuncJsonNames;
                });
            }
            else
            {
                PlainText(zlogger);
            }
        }
    }

    static void PlainText(ZLoggerOptions options) =>
        options.UsePlainTextFormatter(formatter => formatter.SetPrefixFormatter($"{0:yyyy-MM-ddTHH:mm:ss.ffffffZ} {1} ",
            (in MessageTemplate template, in LogInfo info) => template.Format(info.Timestamp.Utc, LevelName(info.LogLevel))));

    /// <summary>logrus's field and level names, which runc's JSON log lines have.</summary>
    static readonly JsonPropertyNames RuncJsonNames = JsonPropertyNames.Default with
    {
        Timestamp = JsonEncodedText.Encode("time"),
        LogLevel = JsonEncodedText.Encode("level"),
        Message = JsonEncodedText.Encode("msg"),
        LogLevelTrace = JsonEncodedText.Encode("trace"),
        LogLevelDebug = JsonEncodedText.Encode("debug"),
        LogLevelInformation = JsonEncodedText.Encode("info"),
        LogLevelWarning = JsonEncodedText.Encode("warning"),
        LogLevelError = JsonEncodedText.Encode("error"),
        LogLevelCritical = JsonEncodedText.Encode("fatal"),
    };

    static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO",
        LogLevel.Warning => "WARN",
        LogLevel.Error => "ERROR",
        _ => level.ToString().ToUpperInvariant(),
    };
}
