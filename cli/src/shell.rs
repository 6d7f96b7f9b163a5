//! Just enough of a POSIX shell's grammar to find what a Bash tool call feeds `psql`: words with
//! their quotes removed, pipelines, here-documents (`<<EOF`, `<<-EOF`, `<<'EOF'`), here-strings
//! (`<<<`) and `< file`. Nothing is expanded or run: `$VAR`, `$(…)` and backquotes stay as written
//! (SQL such as `$1` and `$$ … $$` is left alone, and a command substitution is not looked into).

/// One simple command: `NAME=value` assignments before it, its words, and what feeds its stdin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    pub assignments: Vec<(String, String)>,
    pub words: Vec<String>,
    pub stdin_text: Option<String>,
    pub stdin_file: Option<String>,
}

/// Commands joined by `|`.
pub type Pipeline = Vec<Command>;

/// A redirection waiting for its word.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    HereString,
    InputFile,
    OutputTarget,
    HereDoc { strip_tabs: bool },
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pipelines: Vec<Pipeline>,
    pipeline: Pipeline,
    command: Command,
    word: String,
    in_word: bool,
    pending: Pending,
    /// Here-documents whose bodies follow the current line: (delimiter, strip tabs, pipeline index, command index).
    heredocs: Vec<(String, bool, usize, usize)>,
}

/// The pipelines of a shell command line or script.
pub fn parse(script: &str) -> Vec<Pipeline> {
    let mut lx = Lexer {
        chars: script.chars().peekable(),
        pipelines: Vec::new(),
        pipeline: Vec::new(),
        command: Command::default(),
        word: String::new(),
        in_word: false,
        pending: Pending::None,
        heredocs: Vec::new(),
    };
    lx.run();
    lx.pipelines
}

impl Lexer<'_> {
    fn run(&mut self) {
        while let Some(c) = self.chars.next() {
            match c {
                ' ' | '\t' => self.end_word(),
                '\n' => {
                    self.end_command(true);
                    self.read_heredocs();
                }
                ';' | '&' | '(' | ')' | '{' | '}' if !self.in_word || matches!(c, ';' | '&' | ')') => {
                    if c == '&' && self.chars.peek() == Some(&'>') {
                        self.end_word();
                        continue;
                    }
                    if c == '&' && self.pending == Pending::OutputTarget {
                        continue; // 2>&1
                    }
                    self.end_command(true);
                    if self.chars.peek() == Some(&c) {
                        self.chars.next();
                    }
                }
                '|' => {
                    if self.chars.peek() == Some(&'|') {
                        self.chars.next();
                        self.end_command(true);
                    } else {
                        self.end_command(false);
                    }
                }
                '#' if !self.in_word => {
                    while self.chars.peek().is_some_and(|c| *c != '\n') {
                        self.chars.next();
                    }
                }
                '\'' => {
                    self.in_word = true;
                    for d in self.chars.by_ref() {
                        if d == '\'' {
                            break;
                        }
                        self.word.push(d);
                    }
                }
                '"' => {
                    self.in_word = true;
                    while let Some(d) = self.chars.next() {
                        match d {
                            '"' => break,
                            '\\' if self.chars.peek().is_some_and(|n| matches!(n, '"' | '\\' | '$' | '`')) => {
                                if let Some(n) = self.chars.next() {
                                    self.word.push(n);
                                }
                            }
                            '\\' if self.chars.peek() == Some(&'\n') => {
                                self.chars.next();
                            }
                            _ => self.word.push(d),
                        }
                    }
                }
                '\\' => match self.chars.next() {
                    Some('\n') | None => {}
                    Some(n) => {
                        self.in_word = true;
                        self.word.push(n);
                    }
                },
                '$' if self.chars.peek() == Some(&'(') => {
                    // `$(…)`: kept whole as part of the word, balanced.
                    self.in_word = true;
                    self.word.push('$');
                    let mut depth = 0usize;
                    for d in self.chars.by_ref() {
                        self.word.push(d);
                        match d {
                            '(' => depth += 1,
                            ')' => {
                                depth = depth.saturating_sub(1);
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                '<' if !self.in_word || self.word.chars().all(|c| c.is_ascii_digit()) => self.less_than(),
                '>' => {
                    if self.word.chars().all(|c| c.is_ascii_digit()) {
                        self.word.clear();
                        self.in_word = false;
                    } else {
                        self.end_word();
                    }
                    if self.chars.peek() == Some(&'>') {
                        self.chars.next();
                    }
                    if self.chars.peek() == Some(&'&') {
                        self.chars.next();
                    }
                    self.pending = Pending::OutputTarget;
                }
                c => {
                    self.in_word = true;
                    self.word.push(c);
                }
            }
        }
        self.end_command(true);
    }

    fn less_than(&mut self) {
        self.end_word();
        if self.chars.peek() == Some(&'<') {
            self.chars.next();
            if self.chars.peek() == Some(&'<') {
                self.chars.next();
                self.pending = Pending::HereString;
                return;
            }
            let strip_tabs = self.chars.peek() == Some(&'-');
            if strip_tabs {
                self.chars.next();
            }
            self.pending = Pending::HereDoc { strip_tabs };
            return;
        }
        if self.chars.peek() == Some(&'(') {
            return; // process substitution: not followed
        }
        self.pending = Pending::InputFile;
    }

    fn end_word(&mut self) {
        if !self.in_word {
            return;
        }
        let word = std::mem::take(&mut self.word);
        self.in_word = false;
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::HereString => self.command.stdin_text = Some(word + "\n"),
            Pending::InputFile => self.command.stdin_file = Some(word),
            Pending::OutputTarget => {}
            Pending::HereDoc { strip_tabs } => {
                let index = (self.pipelines.len(), self.pipeline.len());
                self.heredocs.push((word, strip_tabs, index.0, index.1));
            }
            Pending::None => {
                let is_assignment = self.command.words.is_empty()
                    && word.find('=').is_some_and(|i| i > 0 && word[..i].chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                if is_assignment {
                    let (name, value) = word.split_at(word.find('=').unwrap_or(0));
                    self.command.assignments.push((name.to_string(), value[1..].to_string()));
                } else {
                    self.command.words.push(word);
                }
            }
        }
    }

    /// Ends the current command; `pipeline_too`: also the pipeline (`;`, `&&`, newline).
    fn end_command(&mut self, pipeline_too: bool) {
        self.end_word();
        let command = std::mem::take(&mut self.command);
        if command != Command::default() {
            self.pipeline.push(command);
        }
        if pipeline_too && !self.pipeline.is_empty() {
            let pipeline = std::mem::take(&mut self.pipeline);
            self.pipelines.push(pipeline);
        }
    }

    /// The bodies of the here-documents started on the line just ended.
    fn read_heredocs(&mut self) {
        for (delimiter, strip_tabs, p, c) in std::mem::take(&mut self.heredocs) {
            let mut body = String::new();
            loop {
                let mut line = String::new();
                let mut ended = true;
                for d in self.chars.by_ref() {
                    if d == '\n' {
                        ended = false;
                        break;
                    }
                    line.push(d);
                }
                let shown = if strip_tabs { line.trim_start_matches('\t').to_string() } else { line };
                if shown == delimiter {
                    break;
                }
                body.push_str(&shown);
                body.push('\n');
                if ended {
                    break;
                }
            }
            if let Some(cmd) = self.pipelines.get_mut(p).and_then(|pl| pl.get_mut(c)) {
                cmd.stdin_text = Some(body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_pipes_and_heredocs() {
        let p = parse("PGOPTIONS='-c x=1' psql -c \"DELETE FROM t\" db | cat; echo 'a b' | psql\npsql <<'EOF'\nDROP TABLE t;\nEOF\n");
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[0][0].assignments, vec![("PGOPTIONS".to_string(), "-c x=1".to_string())]);
        assert_eq!(p[0][0].words, vec!["psql", "-c", "DELETE FROM t", "db"]);
        assert_eq!(p[1][0].words, vec!["echo", "a b"]);
        assert_eq!(p[2][0].stdin_text.as_deref(), Some("DROP TABLE t;\n"));
    }

    #[test]
    fn here_strings_redirects_and_comments() {
        let p = parse("psql db <<< 'SELECT 1' 2>&1 > out.txt # psql -c 'DROP'\npsql < q.sql");
        assert_eq!(p[0][0].stdin_text.as_deref(), Some("SELECT 1\n"));
        assert_eq!(p[0][0].words, vec!["psql", "db"]);
        assert_eq!(p[1][0].stdin_file.as_deref(), Some("q.sql"));
    }
}
