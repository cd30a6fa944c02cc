using ConsoleAppFramework;
using Tiny;
using Tiny.Runtime;
using Tiny.Runtime.Oci;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;

Tiny.Interop.NativeThread.ShareOneMallocArena();
ReportErrors.Install();
GlobalOptions globals;
string[] command;
try
{
    (globals, command) = GlobalOptions.Extract(args);
}
catch (ContainerError e)
{
    Console.Error.WriteLine($"tiny: {e.Message}");
    return e.ExitCode;
}
var routed = OciCommands.RouteRun(command, globals);
if (ReadOnlyBinary.Needed(routed)) ReadOnlyBinary.Ensure(tinyRun: false);
using var ociLogging = Logging.CreateForOci(globals);
OciCommands.Globals = globals;
OciCommands.Log = ReportErrors.ErrorLog = ociLogging.CreateLogger("tiny");

ConsoleApp.Version = ConsoleApp.TinyVersion;
ConsoleApp.Log = StandardOutput.WriteLine;
var app = ConsoleApp.Create();
app.Add<RunCommand>();
app.Add<OciCommands>();
app.Add<ContainerCommands>();
app.Add<NetworkCommands>("network");
app.Add<SeccompCommands>("seccomp");
app.Run(CommandSyntax.Normalize(routed, [RunCommand.Syntax, .. OciCommands.Syntaxes, .. ContainerCommands.Syntaxes]));
return ReportErrors.ExitCode();
