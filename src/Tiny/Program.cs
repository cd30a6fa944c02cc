using ConsoleAppFramework;
using Tiny;
using Tiny.Runtime.Spec;

var app = ConsoleApp.Create();
app.UseFilter<ReportErrors>();
ConsoleApp.LogError = ReportErrors.UsageError;
app.Add<RunCommand>();
app.Add<NetworkCommands>("network");
app.Add<SeccompCommands>("seccomp");
app.Run(CommandSyntax.Normalize(args, [RunCommand.Syntax]));
return ReportErrors.ExitCode();
