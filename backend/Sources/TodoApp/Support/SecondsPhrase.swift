/// A count of seconds as an error's detail says it: "1 second", "30 seconds".
func secondsPhrase(_ count: Int) -> String {
    count == 1 ? "1 second" : "\(count) seconds"
}
