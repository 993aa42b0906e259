//! How far the pickles at the start of a file reach, found by stepping over their
//! opcodes without building any object: burn's pickle machine keeps every object a
//! pickle makes, so a pickle's length must be known before it runs. The opcodes and
//! their arguments are those of Python's `pickletools` (protocols 0 to 5).

use std::io::{self, BufRead, ErrorKind, Read};

/// Whether the first `count` pickles of `input` reach past `limit` bytes. Where the
/// input ends or stops being pickle first, burn's reader will say so, having run no
/// more than `limit` bytes of pickle.
pub fn pickles_exceed(input: impl Read, count: usize, limit: u64) -> io::Result<bool> {
    let mut input = io::BufReader::new(input.take(limit));
    for _ in 0..count {
        if input.fill_buf()?.is_empty() {
            return Ok(false); // the input ended between pickles
        }
        match step_over_pickle(&mut input) {
            Ok(Pickle::Complete) => {}
            Ok(Pickle::NotPickle) => return Ok(false),
            // The `take` ran out: past the limit, unless the file itself ended there.
            Err(err) if err.kind() == ErrorKind::UnexpectedEof => {
                return Ok(input.into_inner().limit() == 0);
            }
            Err(err) => return Err(err),
        }
    }
    Ok(false)
}

/// How a pickle ended.
enum Pickle {
    /// At its `STOP` opcode.
    Complete,
    /// At a byte that is no opcode.
    NotPickle,
}

/// Reads one pickle, up to and including its `STOP`.
fn step_over_pickle(input: &mut impl BufRead) -> io::Result<Pickle> {
    loop {
        let argument = match byte(input)? {
            b'.' => return Ok(Pickle::Complete),
            op => match Argument::of(op) {
                Some(argument) => argument,
                None => return Ok(Pickle::NotPickle),
            },
        };
        let skip = match argument {
            Argument::Fixed(bytes) => bytes,
            Argument::Counted(width) => {
                let mut count = [0u8; 8];
                input.read_exact(&mut count[..width])?;
                u64::from_le_bytes(count)
            }
            Argument::Lines(lines) => {
                (0..lines).try_for_each(|_| skip_line(input))?;
                0
            }
        };
        let skipped = io::copy(&mut input.take(skip), &mut io::sink())?;
        if skipped < skip {
            return Err(ErrorKind::UnexpectedEof.into());
        }
    }
}

/// What follows an opcode.
enum Argument {
    /// So many bytes.
    Fixed(u64),
    /// A little-endian count this many bytes wide, then that many bytes.
    Counted(usize),
    /// Text lines, each ended by `\n` (protocol 0's opcodes).
    Lines(usize),
}

impl Argument {
    /// The argument of opcode `op`, or `None` when `op` is no pickle opcode.
    fn of(op: u8) -> Option<Self> {
        Some(match op {
            // MARK POP POP_MARK DUP NONE EMPTY_TUPLE EMPTY_LIST EMPTY_DICT APPEND APPENDS BUILD
            // LIST TUPLE DICT SETITEM SETITEMS REDUCE BINPERSID OBJ
            b'(' | b'0' | b'1' | b'2' | b'N' | b')' | b']' | b'}' | b'a' | b'e' | b'b' | b'l'
            | b't' | b'd' | b's' | b'u' | b'R' | b'Q' | b'o' => Self::Fixed(0),
            // NEWOBJ TUPLE1-3 NEWTRUE NEWFALSE EMPTY_SET ADDITEMS FROZENSET NEWOBJ_EX
            // STACK_GLOBAL MEMOIZE NEXT_BUFFER READONLY_BUFFER
            0x81 | 0x85..=0x89 | 0x8f..=0x94 | 0x97 | 0x98 => Self::Fixed(0),
            b'K' | b'h' | b'q' | 0x80 | 0x82 => Self::Fixed(1), // BININT1 BINGET BINPUT PROTO EXT1
            b'M' | 0x83 => Self::Fixed(2),                      // BININT2 EXT2
            b'J' | b'j' | b'r' | 0x84 => Self::Fixed(4), // BININT LONG_BINGET LONG_BINPUT EXT4
            b'G' | 0x95 => Self::Fixed(8), // BINFLOAT, FRAME (its opcodes follow as usual)
            b'U' | b'C' | 0x8c | 0x8a => Self::Counted(1), // SHORT_BINSTRING/BINBYTES/BINUNICODE, LONG1
            // BINSTRING BINUNICODE BINBYTES LONG4: a negative count reads as a huge one,
            // which runs past the limit as a real one would.
            b'T' | b'X' | b'B' | 0x8b => Self::Counted(4),
            0x8d | 0x8e | 0x96 => Self::Counted(8), // BINUNICODE8 BINBYTES8 BYTEARRAY8
            // INT LONG FLOAT STRING UNICODE PERSID GET PUT
            b'I' | b'L' | b'F' | b'S' | b'V' | b'P' | b'g' | b'p' => Self::Lines(1),
            b'c' | b'i' => Self::Lines(2), // GLOBAL INST: module, then name
            _ => return None,
        })
    }
}

fn byte(input: &mut impl Read) -> io::Result<u8> {
    let mut one = [0u8];
    input.read_exact(&mut one)?;
    Ok(one[0])
}

/// Reads past the next `\n` without keeping the line.
fn skip_line(input: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buffered = input.fill_buf()?;
        if buffered.is_empty() {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        match buffered.iter().position(|&b| b == b'\n') {
            Some(end) => {
                input.consume(end + 1);
                return Ok(());
            }
            None => {
                let len = buffered.len();
                input.consume(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol-2 state_dict-like pickle as Python writes one: a GLOBAL line pair,
    /// memo puts, a counted string, a persistent id, ints, a float, a tuple.
    const STATE_DICT: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x08\x00\x00\x000.weightq\x02(X\x07\x00\x00\x00storageq\x03Qq\x04K\x00M\x10\x03\x85G?\xf0\x00\x00\x00\x00\x00\x00\x86\x8a\x01\x01tq\x05s.";

    fn exceeds(bytes: &[u8], count: usize, limit: u64) -> bool {
        pickles_exceed(bytes, count, limit).unwrap()
    }

    #[test]
    fn pickles_within_the_limit_pass_and_past_it_are_caught() {
        let len = STATE_DICT.len() as u64;
        assert!(!exceeds(STATE_DICT, 1, len));
        assert!(exceeds(STATE_DICT, 1, len - 1));
        // Three in a row, as PyTorch's legacy format starts; data after them is not read.
        let mut legacy = [STATE_DICT, STATE_DICT, STATE_DICT].concat();
        legacy.extend_from_slice(&[b']'; 4096]);
        assert!(!exceeds(&legacy, 3, 3 * len));
        assert!(exceeds(&legacy, 3, 3 * len - 1));
        assert!(exceeds(&legacy, 4, 3 * len + 100), "the fourth runs on");
        assert!(!exceeds(&legacy, 4, 1 << 20), "the file ends first");
    }

    #[test]
    fn a_pickle_of_empty_lists_runs_past_the_limit() {
        let mut lists = vec![0x80, 2, b'('];
        lists.resize(4 << 20, b']');
        lists.extend_from_slice(b"l.");
        assert!(exceeds(&lists, 1, 1 << 20));
        assert!(!exceeds(&lists, 1, 5 << 20));
    }

    #[test]
    fn counted_and_line_arguments_are_skipped_whole() {
        // A 3-byte string holding '.', a 2-line GLOBAL, a protocol-0 INT line.
        let pickle = b"\x80\x02U\x03a.bcmod\nname\nI12\n\x86.";
        assert!(!exceeds(pickle, 1, pickle.len() as u64));
        // A count claiming 4 GiB runs past the limit where the file holds more than
        // the limit, with no byte allocated for it.
        for head in [
            &b"\x80\x02X\xff\xff\xff\xff"[..],
            b"\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            let mut claim = head.to_vec();
            claim.resize(2 << 20, b'x');
            assert!(exceeds(&claim, 1, 1 << 20));
            assert!(!exceeds(head, 1, 1 << 20), "the file ends first");
        }
    }

    #[test]
    fn input_that_ends_or_stops_being_pickle_is_left_to_the_reader() {
        assert!(!exceeds(b"", 5, 16));
        assert!(!exceeds(b"\x80\x02]", 1, 16), "cut short inside the limit");
        assert!(!exceeds(b"\x80\x02]\x00\x00", 1, 16), "0x00 is no opcode");
        assert!(!exceeds(&[STATE_DICT, b"\xff"].concat(), 5, 1 << 20));
    }
}
