#include "mudguard/mudparser/TimeText.h"

#include <charconv>
#include <ctime>

#include <fmt/format.h>

namespace mudguard::mudparser {

namespace {

bool number(std::string_view s, std::size_t pos, std::size_t len, int& out)
{
    if (pos + len > s.size())
        return false;
    for (std::size_t i = pos; i < pos + len; ++i)
        if (s[i] < '0' || s[i] > '9')
            return false;
    std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return true;
}

} // namespace

std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view s)
{
    int year, month, day, hour, minute, second;
    if (!number(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !number(s, 5, 2, month) || s[7] != '-'
        || !number(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !number(s, 11, 2, hour)
        || s[13] != ':' || !number(s, 14, 2, minute) || s[16] != ':' || !number(s, 17, 2, second))
        return std::nullopt;
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return std::nullopt;
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        std::size_t digits = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            ++pos;
            ++digits;
        }
        if (digits == 0)
            return std::nullopt;
    }
    long offset = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        int oh, om;
        if (!number(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !number(s, pos + 4, 2, om)
            || oh > 23 || om > 59)
            return std::nullopt;
        offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != s.size())
        return std::nullopt;
    std::tm tm {};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second == 60 ? 59 : second;
    std::time_t t = timegm(&tm);
    if (tm.tm_mday != day) // 31 February and the like
        return std::nullopt;
    return std::chrono::system_clock::from_time_t(t - offset);
}

std::string formatRfc3339(std::chrono::system_clock::time_point t)
{
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm {};
    gmtime_r(&tt, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
        tm.tm_min, tm.tm_sec);
}

} // namespace mudguard::mudparser
