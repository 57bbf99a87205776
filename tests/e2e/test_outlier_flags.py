"""An outlier flag follows the vegetable's history: later data can turn it off, on every backend."""

import datetime as dt


def weeks(first_monday: dt.date, count: int, spike_in_week_two_of_each_month: bool = False, spike_on=None):
    """`count` weekly tomato records of 100 kg from `first_monday`; 100,000 kg on the spiking weeks."""
    records = []
    for number in range(count):
        monday = first_monday + dt.timedelta(weeks=number)
        spike = monday == spike_on or (spike_in_week_two_of_each_month and 8 <= monday.day <= 14)
        records.append({"date": monday.isoformat(), "vegetable": "Tomate", "kilo_sold": 100_000 if spike else 100})
    return records


def flagged(client) -> list[str]:
    return [row["year_month"] for row in client.get("/get_monthly_sales").json() if row["is_outlier"]]


def test_a_flag_set_on_a_spike_turns_off_once_spikes_become_the_vegetables_usual_level(client):
    # Three years of 100 kg a week and one week of 100,000 kg, wholly in June 2016 (Monday the 6th):
    # June stands far above mean + 5 standard deviations of the 36 months.
    first = weeks(dt.date(2015, 1, 5), 156, spike_on=dt.date(2016, 6, 6))
    report = client.post("/post_sales", json=first).json()
    assert (report["inserted"], report["rejected"]) == (len(first), []), report
    assert flagged(client) == ["2016-06"]
    # Three more years in which every month has such a week: June 2016 is now ordinary.
    later = weeks(dt.date(2018, 1, 1), 157, spike_in_week_two_of_each_month=True)
    report = client.post("/post_sales", json=later).json()
    assert (report["inserted"], report["rejected"]) == (len(later), []), report
    assert flagged(client) == []
    without = {row["year_month"] for row in client.get("/get_monthly_sales?remove_outliers=true").json()}
    assert "2016-06" in without
