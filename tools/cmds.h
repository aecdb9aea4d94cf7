#ifndef EA_TOOLS_CMDS_H
#define EA_TOOLS_CMDS_H
/* Subcommands; argv excludes the command name. Return the exit code. */
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
#endif
