//! The ticker: one thread that redraws a frame on stderr in place, four times a second, through
//! indicatif (which moves the cursor back over the last frame and clears it), and leaves the
//! last frame on screen when stopped. The workers never draw: they only add to counters, so a
//! slow terminal cannot slow a sync down.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use super::Target;

/// How often a frame is drawn: often enough to look alive, rarely enough to cost nothing.
const PERIOD: Duration = Duration::from_millis(250);
const HZ: u8 = 4;

/// A frame as a function of the terminal's rows and columns.
pub(super) type Frame = Box<dyn Fn(usize, usize) -> String + Send>;

pub(super) struct Ticker {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Draws `frame` on stderr every `PERIOD` until stopped.
    pub(super) fn start(target: Target, frame: Frame) -> Ticker {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let term = Term::stderr();
                let bar = ProgressBar::with_draw_target(None, draw_target(target));
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}")
                        .expect("a valid template")
                        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
                );
                let draw = || {
                    let (rows, cols) = term.size();
                    bar.set_message(frame(usize::from(rows), usize::from(cols)));
                };
                loop {
                    draw();
                    bar.tick();
                    match stopped.recv_timeout(PERIOD) {
                        Err(RecvTimeoutError::Timeout) => continue,
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                draw();
                bar.finish();
            })
            .ok();
        Ticker { stop, thread }
    }

    /// Draws the last frame, leaves it on screen, and stops.
    pub(super) fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn draw_target(target: Target) -> ProgressDrawTarget {
    match target {
        Target::Terminal => ProgressDrawTarget::stderr_with_hz(HZ),
        // indicatif hides itself on a stderr that is not a terminal; asked for, it draws there.
        Target::Forced => {
            ProgressDrawTarget::term_like_with_hz(Box::new(Forced(Term::buffered_stderr())), HZ)
        }
    }
}

/// stderr drawn on as if it were a terminal.
#[derive(Debug)]
struct Forced(Term);

impl TermLike for Forced {
    fn width(&self) -> u16 {
        self.0.size().1
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `line` cut to `width` columns.
pub(super) fn fit(line: &str, width: usize) -> String {
    console::truncate_str(line, width, "…").into_owned()
}

/// A duration as a clock: `m:ss`, or `h:mm:ss` past an hour.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_and_cut_lines() {
        assert_eq!(clock(Duration::from_secs(7)), "0:07");
        assert_eq!(clock(Duration::from_secs(754)), "12:34");
        assert_eq!(clock(Duration::from_secs(3_725)), "1:02:05");
        assert_eq!(fit("abcdef", 10), "abcdef");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
