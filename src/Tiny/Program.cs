using ConsoleAppFramework;
using Tiny;
using Tiny.Runtime.Spec;

ReportErrors.Install();
ConsoleApp.Version = ConsoleApp.TinyVersion;
ConsoleApp.Log = StandardOutput.WriteLine;
var app = ConsoleApp.Create();
app.Add<RunCommand>();
app.Add<NetworkCommands>("network");
app.Add<SeccompCommands>("seccomp");
app.Run(CommandSyntax.Normalize(args, [RunCommand.Syntax]));
return ReportErrors.ExitCode();
