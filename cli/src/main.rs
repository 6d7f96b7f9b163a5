//! `interdict`: Interdict's command line. The extension's own decision core (`interdict-core`) and
//! reason table, with Postgres' own parser (pg_query) in front of it: verdicts before a statement
//! leaves the agent, hooks for coding agents, policy checks, a role's set-up checked against a
//! server. The server's mode is the guarantee; this is the first line. See docs/agents.md.

mod builtins;
mod check;
mod doctor;
mod explain;
mod hook;
mod judge;
mod parse_error;
mod policy_cmd;
mod shell;
mod tags;
mod tree;

use clap::{Args, Parser, Subcommand, ValueEnum};
use interdict_core::Mode;
use std::io::Read;

#[derive(Parser)]
#[command(name = "interdict", version, about = "Interdict's verdicts before a statement reaches the server; hooks for coding agents; policy and role checks.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Judge SQL as the extension would: allow, refuse (reason code), needs_server, or invalid.
    Check(CheckArgs),
    /// A PreToolUse hook for a coding agent: reads the tool call on stdin, denies what the guard refuses.
    Hook(HookArgs),
    /// Policy files: validate, and explain the rule for a role and table.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Check a server and a role's set-up: library loaded, mode, lock, check_role(), ceilings, undo.
    Doctor(doctor::DoctorArgs),
    /// A reason code's row of the reason table (why, hint, SQLSTATE, properties).
    ExplainCode {
        /// The code, e.g. readonly.dml.
        code: Option<String>,
        /// List every code.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Readonly,
    Guarded,
}

impl ModeArg {
    fn mode(self) -> Mode {
        match self {
            ModeArg::Readonly => Mode::Readonly,
            ModeArg::Guarded => Mode::Guarded,
        }
    }
}

/// The session settings a check runs under (mirroring the server's settings of the same names).
#[derive(Args, Clone)]
pub struct SessionArgs {
    /// The session's mode [default: $INTERDICT_MODE, else readonly].
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// A policy file (YAML) whose rule for --role applies (mode, command lists, structural actions).
    #[arg(long)]
    policy: Option<String>,
    /// The role whose policy rule applies.
    #[arg(long)]
    role: Option<String>,
    /// interdict.blocked_commands: command tags refused in every mode.
    #[arg(long, default_value = "")]
    blocked_commands: String,
    /// interdict.readonly_allow: utility command tags readonly sessions may run anyway.
    #[arg(long, default_value = "")]
    readonly_allow: String,
    /// interdict.allowed_extensions: extensions guarded sessions may CREATE EXTENSION.
    #[arg(long, default_value = "")]
    allowed_extensions: String,
}

impl SessionArgs {
    fn config(&self) -> Result<check::Config, String> {
        let mode = match self.mode {
            Some(m) => m.mode(),
            None => match std::env::var("INTERDICT_MODE") {
                Ok(v) if !v.trim().is_empty() => match Mode::parse(&v) {
                    Ok(Mode::Off) | Err(_) => return Err(format!("INTERDICT_MODE={v}: use readonly or guarded")),
                    Ok(m) => m,
                },
                _ => Mode::Readonly,
            },
        };
        Ok(check::Config {
            mode: Some(mode),
            blocked_commands: self.blocked_commands.clone(),
            readonly_allow: self.readonly_allow.clone(),
            allowed_extensions: self.allowed_extensions.clone(),
            policy_file: self.policy.clone(),
            role: self.role.clone(),
        })
    }
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Read the SQL from a file.
    #[arg(short = 'f', long = "file", conflicts_with = "sql")]
    file: Option<String>,
    /// The SQL, or - to read standard input.
    sql: Option<String>,
    /// Parse and judge the input N times and report statements per second.
    #[arg(long, hide = true)]
    bench: Option<usize>,
}

#[derive(Args)]
struct HookArgs {
    /// Which agent's hook format: claude-code or codex.
    harness: hook::Harness,
    #[command(flatten)]
    session: SessionArgs,
    /// Deny statements the server must decide too (needs_server), not only refusals.
    #[arg(long)]
    strict: bool,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file as interdict.load_policy() does.
    Check {
        file: String,
        /// Print the rule that applies to ROLE and TABLE (schema.table).
        #[arg(long, num_args = 2, value_names = ["ROLE", "TABLE"])]
        explain: Option<Vec<String>>,
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { check::EXIT_INVALID } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        Command::Check(args) => run_check(args),
        Command::Hook(args) => hook::run(args.harness, &args.session, args.strict),
        Command::Policy { command: PolicyCommand::Check { file, explain, json } } => policy_cmd::run(&file, explain.as_deref(), json),
        Command::Doctor(args) => doctor::run(&args),
        Command::ExplainCode { code, all, json } => explain::run(code.as_deref(), all, json),
    };
    std::process::exit(code);
}

fn run_check(args: CheckArgs) -> i32 {
    let config = match args.session.config() {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let text = match read_input(args.file.as_deref(), args.sql.as_deref()) {
        Ok(t) => t,
        Err(e) => return invalid(&config, &e, args.json),
    };
    if let Some(rounds) = args.bench {
        return match check::bench(&text, &config, rounds) {
            Ok(line) => {
                println!("{line}");
                0
            }
            Err(e) => usage(&e),
        };
    }
    let mut session = match config.session() {
        Ok(s) => s,
        Err(e) => return usage(&e),
    };
    let result = check::check_sql(&text, &mut session);
    let mode = config.mode.unwrap_or(Mode::Readonly);
    if args.json {
        println!("{}", check::report_json(mode, &result));
    } else {
        print!("{}", check::report_text(mode, &result));
    }
    match &result {
        Ok(reports) => check::exit_code(reports),
        Err(_) => check::EXIT_INVALID,
    }
}

/// The SQL to check: the argument, a file, or standard input (`-`).
fn read_input(file: Option<&str>, sql: Option<&str>) -> Result<String, String> {
    match (file, sql) {
        (Some(path), _) => check::read_text_file(path),
        (None, Some("-")) => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("reading standard input: {e}"))?;
            check::text_of(bytes)
        }
        (None, Some(sql)) => Ok(sql.to_string()),
        (None, None) => Err("no SQL given: pass it as an argument, with -f FILE, or - for standard input".into()),
    }
}

fn invalid(config: &check::Config, message: &str, json: bool) -> i32 {
    let result = Err(check::Invalid::plain(message));
    let mode = config.mode.unwrap_or(Mode::Readonly);
    if json {
        println!("{}", check::report_json(mode, &result));
    } else {
        eprint!("{}", check::report_text(mode, &result));
    }
    check::EXIT_INVALID
}

fn usage(message: &str) -> i32 {
    eprintln!("interdict: {message}");
    check::EXIT_INVALID
}
