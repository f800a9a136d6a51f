from pose_service.tracks import BoxTracker, iou


def box(x, y, w=100, h=300):
    return [x, y, x + w, y + h]


def test_iou():
    assert iou(box(0, 0), box(0, 0)) == 1.0
    assert iou(box(0, 0), box(200, 0)) == 0.0
    assert abs(iou(box(0, 0), box(50, 0)) - 1 / 3) < 1e-9


def test_people_keep_their_ids_while_they_move_and_swap_places_in_the_list():
    t = BoxTracker()
    assert t.assign([box(100, 50), box(600, 60)]) == [1, 2]
    # Both moved a little; the detector lists them the other way round.
    assert t.assign([box(630, 60), box(120, 55)]) == [2, 1]
    # A fast step without overlap is still the nearest box within half a diagonal.
    assert t.assign([box(760, 60), box(125, 55)]) == [2, 1]


def test_a_new_person_gets_a_new_id_and_a_person_away_too_long_is_forgotten():
    t = BoxTracker(max_missed=2)
    assert t.assign([box(100, 50)]) == [1]
    assert t.assign([box(100, 50), box(900, 50)]) == [1, 2]
    assert t.assign([]) == []  # nobody detected for a frame: ids kept
    assert t.assign([box(100, 50), box(900, 50)]) == [1, 2]
    for _ in range(3):
        t.assign([box(900, 50)])
    assert t.assign([box(100, 50), box(900, 50)]) == [3, 2]


def test_two_boxes_never_take_the_same_id():
    t = BoxTracker()
    t.assign([box(100, 50)])
    assert t.assign([box(105, 50), box(110, 50)]) == [1, 2]
