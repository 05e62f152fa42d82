//! Maze layouts: a grid of cells, `1` wall, `0` free, `R` start, `G` goal (DESIGN.md section 4), the
//! built-in mazes, parsing from text files, and breadth-first search over the free cells.
//!
//! Cell (i, j) is row i, column j, centred at (4i, 4j) with half-size 2. Cells outside the grid count
//! as walls, so an open border cannot be escaped.
//!
//! ```
//! use envs::point_maze::Layout;
//! let maze = Layout::parse("tiny", "1 1 1 1\n1 R G 1\n1 1 1 1").unwrap();
//! assert_eq!(maze.start(), (1, 1));
//! assert_eq!(maze.goal_cells(), vec![(1, 2)]);
//! assert!(Layout::parse("bad", "1 1\n1 G").unwrap_err().to_string().contains("no start cell"));
//! ```

use std::collections::VecDeque;
use std::path::Path;

use crate::error::{EnvError, Result};

/// Size of a cell in world units.
pub const CELL: f32 = 4.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Wall,
    Free,
    Start,
    Goal,
}

/// A rectangular maze.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    cells: Vec<Cell>,
}

const U_MAZE: &str = "
1 1 1 1 1
1 R G G 1
1 1 1 G 1
1 G G G 1
1 1 1 1 1";

const U_MAZE_EVAL: &str = "
1 1 1 1 1
1 R 0 0 1
1 1 1 0 1
1 G G G 1
1 1 1 1 1";

const BIG_MAZE: &str = "
1 1 1 1 1 1 1 1
1 R G 1 1 G G 1
1 G G 1 G G G 1
1 1 G G G 1 1 1
1 G G 1 G G G 1
1 G 1 G G 1 G 1
1 G G G 1 G G 1
1 1 1 1 1 1 1 1";

const BIG_MAZE_EVAL: &str = "
1 1 1 1 1 1 1 1
1 R 0 1 1 G G 1
1 0 0 1 0 G G 1
1 1 0 0 0 1 1 1
1 0 0 1 0 0 0 1
1 0 1 G 0 1 G 1
1 0 G G 1 G G 1
1 1 1 1 1 1 1 1";

const HARDEST_MAZE: &str = "
1 1 1 1 1 1 1 1 1 1 1 1
1 R G G G 1 G G G G G 1
1 G 1 1 G 1 G 1 G 1 G 1
1 G G G G G G 1 G G G 1
1 G 1 1 1 1 G 1 1 1 G 1
1 G G 1 G 1 G G G G G 1
1 1 G 1 G 1 G 1 G 1 1 1
1 G G 1 G G G 1 G G G 1
1 1 1 1 1 1 1 1 1 1 1 1";

/// Names of the built-in layouts. DESIGN.md gives no separate evaluation layout for the hardest
/// maze, so `hardest_maze_eval` evaluates on its training goals.
pub const BUILTIN: [&str; 6] =
    ["u_maze", "u_maze_eval", "big_maze", "big_maze_eval", "hardest_maze", "hardest_maze_eval"];

impl Layout {
    /// A built-in layout by name (see [`BUILTIN`]).
    pub fn builtin(name: &str) -> Option<Layout> {
        let text = match name {
            "u_maze" => U_MAZE,
            "u_maze_eval" => U_MAZE_EVAL,
            "big_maze" => BIG_MAZE,
            "big_maze_eval" => BIG_MAZE_EVAL,
            "hardest_maze" | "hardest_maze_eval" => HARDEST_MAZE,
            _ => return None,
        };
        Some(Layout::parse(name, text).expect("built-in layouts are valid"))
    }

    /// Reads a layout from a text file: one row per line, cells separated by spaces (or not),
    /// blank lines and `#` comments ignored.
    pub fn from_file(path: &Path) -> Result<Layout> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EnvError::Io { context: format!("reading maze layout {}", path.display()), source: e })?;
        Layout::parse(&path.display().to_string(), &text)
    }

    /// Parses layout text; `source_name` only labels errors.
    pub fn parse(source_name: &str, text: &str) -> Result<Layout> {
        let err = |msg: String| EnvError::Layout { source_name: source_name.to_string(), msg };
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        for (lineno, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let row = line
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| match c {
                    '1' => Ok(Cell::Wall),
                    '0' => Ok(Cell::Free),
                    'R' | 'r' => Ok(Cell::Start),
                    'G' | 'g' => Ok(Cell::Goal),
                    other => Err(err(format!(
                        "line {}: unknown cell {other:?} (use 1 wall, 0 free, R start, G goal)",
                        lineno + 1
                    ))),
                })
                .collect::<Result<Vec<Cell>>>()?;
            if let Some(first) = rows.first() {
                if row.len() != first.len() {
                    return Err(err(format!(
                        "line {}: ragged rows: this row has {} cells, the first has {}",
                        lineno + 1,
                        row.len(),
                        first.len()
                    )));
                }
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(err("the layout is empty".into()));
        }
        let (nr, nc) = (rows.len(), rows[0].len());
        let cells: Vec<Cell> = rows.into_iter().flatten().collect();
        let starts = cells.iter().filter(|c| **c == Cell::Start).count();
        if starts == 0 {
            return Err(err("no start cell: mark exactly one cell R".into()));
        }
        if starts > 1 {
            return Err(err(format!("{starts} start cells: mark exactly one cell R")));
        }
        if !cells.contains(&Cell::Goal) {
            return Err(err("no goal cell: mark at least one cell G".into()));
        }
        let layout = Layout { name: source_name.to_string(), rows: nr, cols: nc, cells };
        let dist = layout.bfs_distances(layout.start());
        if let Some(&(i, j)) = layout.goal_cells().iter().find(|&&(i, j)| dist[i * nc + j].is_none()) {
            return Err(err(format!("goal cell ({i}, {j}) cannot be reached from the start")));
        }
        Ok(layout)
    }

    /// The cell at (i, j); outside the grid is wall.
    pub fn cell(&self, i: i64, j: i64) -> Cell {
        if i < 0 || j < 0 || i as usize >= self.rows || j as usize >= self.cols {
            Cell::Wall
        } else {
            self.cells[i as usize * self.cols + j as usize]
        }
    }

    pub fn is_wall(&self, i: i64, j: i64) -> bool {
        self.cell(i, j) == Cell::Wall
    }

    pub fn start(&self) -> (usize, usize) {
        self.find(|c| c == Cell::Start)[0]
    }

    pub fn goal_cells(&self) -> Vec<(usize, usize)> {
        self.find(|c| c == Cell::Goal)
    }

    /// Every cell that is not a wall.
    pub fn free_cells(&self) -> Vec<(usize, usize)> {
        self.find(|c| c != Cell::Wall)
    }

    fn find(&self, f: impl Fn(Cell) -> bool) -> Vec<(usize, usize)> {
        (0..self.rows)
            .flat_map(|i| (0..self.cols).map(move |j| (i, j)))
            .filter(|&(i, j)| f(self.cells[i * self.cols + j]))
            .collect()
    }

    /// World position of a cell's centre.
    pub fn center(i: usize, j: usize) -> [f32; 2] {
        [CELL * i as f32, CELL * j as f32]
    }

    /// The cell containing a world position.
    pub fn cell_of(pos: [f32; 2]) -> (i64, i64) {
        // floor(x + ½) through a truncating cast: `f32::round` is a library call on baseline x86-64
        // and this runs every physics substep.
        let nearest = |x: f32| {
            let v = x / CELL + 0.5;
            let t = v as i64;
            if (t as f32) > v {
                t - 1
            } else {
                t
            }
        };
        (nearest(pos[0]), nearest(pos[1]))
    }

    /// Steps from `from` to every cell through free cells (4-connected); `None` for walls and
    /// unreachable cells. Indexed `i * cols + j`.
    pub fn bfs_distances(&self, from: (usize, usize)) -> Vec<Option<u32>> {
        let mut dist = vec![None; self.rows * self.cols];
        let mut queue = VecDeque::from([from]);
        dist[from.0 * self.cols + from.1] = Some(0);
        while let Some((i, j)) = queue.pop_front() {
            let d = dist[i * self.cols + j].unwrap_or(0);
            for (di, dj) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (ni, nj) = (i as i64 + di, j as i64 + dj);
                if self.is_wall(ni, nj) {
                    continue;
                }
                let k = ni as usize * self.cols + nj as usize;
                if dist[k].is_none() {
                    dist[k] = Some(d + 1);
                    queue.push_back((ni as usize, nj as usize));
                }
            }
        }
        dist
    }

    /// The layout as text, in the file format [`Layout::parse`] reads.
    pub fn to_text(&self) -> String {
        (0..self.rows)
            .map(|i| {
                (0..self.cols)
                    .map(|j| match self.cells[i * self.cols + j] {
                        Cell::Wall => "1",
                        Cell::Free => "0",
                        Cell::Start => "R",
                        Cell::Goal => "G",
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_match_the_design() {
        for name in BUILTIN {
            let l = Layout::builtin(name).unwrap();
            assert_eq!(l.start(), (1, 1), "{name}");
        }
        let u = Layout::builtin("u_maze_eval").unwrap();
        assert_eq!(u.goal_cells(), vec![(3, 1), (3, 2), (3, 3)]);
        assert_eq!(Layout::builtin("u_maze").unwrap().goal_cells().len(), 6);
        let big = Layout::builtin("big_maze_eval").unwrap();
        assert_eq!((big.rows, big.cols), (8, 8));
        assert_eq!(big.goal_cells().len(), 10);
        let hard = Layout::builtin("hardest_maze").unwrap();
        assert_eq!((hard.rows, hard.cols), (9, 12));
        assert!(Layout::builtin("nope").is_none());
    }

    #[test]
    fn malformed_layouts_are_clear_errors() {
        let cases = [
            ("1 1\n1 G", "no start cell"),
            ("1 1\n1 R", "no goal cell"),
            ("1 R G\n1 1", "ragged rows"),
            ("1 R X G", "unknown cell 'X'"),
            ("", "empty"),
            ("R G R", "2 start cells"),
            ("R 1 G", "cannot be reached"),
        ];
        for (text, want) in cases {
            let e = Layout::parse("t", text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn text_round_trip_and_comments() {
        let l = Layout::builtin("big_maze").unwrap();
        let again = Layout::parse("big_maze", &format!("# a comment\n{}\n\n", l.to_text())).unwrap();
        assert_eq!(l, again);
    }

    #[test]
    fn cell_of_rounds_to_the_nearest_centre() {
        assert_eq!(Layout::cell_of([4.0, 8.0]), (1, 2));
        assert_eq!(Layout::cell_of([5.99, 6.01]), (1, 2));
        assert_eq!(Layout::cell_of([-1.9, -2.1]), (0, -1));
        assert_eq!(Layout::cell_of([0.0, -0.0]), (0, 0));
    }

    #[test]
    fn bfs_distances_in_the_u_maze() {
        let u = Layout::builtin("u_maze").unwrap();
        let d = u.bfs_distances(u.start());
        assert_eq!(d[3 * u.cols + 1], Some(6)); // around the U: right 2, down 2, left 2
        assert_eq!(d[2 * u.cols + 1], None); // a wall
    }
}
